#!/usr/bin/env bash
# Install Debian's Chromium for the dashboard's browser test, when missing. Needs root.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
