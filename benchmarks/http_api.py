"""HTTP benchmark: one table of the calls users spend time on, each against the same
server's trivial endpoint (/healthz) measured in the same run, on SQLite and PostgreSQL
(1 and 2 processes each), with the server's CPU time per request: GET bindings (20),
PATCH bindings (5) all on one trigger and spread over 8 triggers, and a post-login
execution of 3 trivial actions at 1 and 16 connections.

    make bench-http                                 (every configuration, 10 s a call)
    BENCH_SECONDS=3 BENCH_WARM_UP=1 BENCH_CONFIGS=sqlite1,pg1 BENCH_CALLS=patch_one make bench-http

Optional: ``--prism`` (Stoplight Prism mocking Auth0's spec), ``--scaling`` (latency
with 10 to 10,000 actions in the tenant). Load comes from wrk on this machine, sharing
its two cores with the server: read the ratios, not the absolute numbers. Each measured
run follows ``BENCH_WARM_UP`` seconds (2) of the same load, and its ratio is to the
trivial endpoint measured just before it. ``BENCH_REPEAT=N`` runs every call N times,
round robin, and prints medians with the ratios' range. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import free_port  # noqa: E402

from actionsd.config import Settings  # noqa: E402
from actionsd.triggers.catalog import CATALOG, ENTITY_BOUND  # noqa: E402
from actionsd.util import new_id, now_ns  # noqa: E402

SPEC = ROOT.parent / "shared" / "reference" / "auth0-management-api-v2.actions-subset.oas.json"
PRISM = ROOT / "benchmarks" / "node" / "node_modules" / ".bin" / "prism"
CODE = "exports.onExecutePostLogin = async (event, api) => {};"
# Seconds of each measured run, and of the same load before it (not counted).
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WARM_UP = int(os.environ.get("BENCH_WARM_UP", "2"))
# Runs of each call, one after another's; the table gives medians and the ratios' range.
REPEAT = int(os.environ.get("BENCH_REPEAT", "1"))
# The triggers "spread" PATCHes go to, one after the other.
TRIGGER_BOUND = [
    t.id for t in CATALOG if t.status == "CURRENT" and t.binding_policy != ENTITY_BOUND
]
SPREAD = tuple(TRIGGER_BOUND[:8])
EVENT = {
    "user": {"user_id": "auth0|bench", "email": "b@example.com"},
    "request": {"ip": "127.0.0.1"},
}


def wrk(
    url: str,
    *,
    connections: int,
    seconds: int,
    token: str = "",
    method: str = "GET",
    body: str = "",
    spread: list[tuple[str, str]] | None = None,
) -> dict[str, float]:
    """wrk against ``url``; with ``spread``, each request goes to the next of those
    (url, body) pairs in turn (``url`` is then the server's base)."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    lines = [f'wrk.method = "{method}"', 'wrk.headers["Content-Type"] = "application/json"']
    if token:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {token}"')
    if body:
        lines.append(f"wrk.body = [[{body}]]")
    if spread:
        pairs = ", ".join(f"{{[[{u.removeprefix(url)}]], [[{b}]]}}" for u, b in spread)
        lines += [
            f"local calls = {{{pairs}}}",
            "local n = 0",
            "request = function()",
            "  n = n + 1",
            "  local call = calls[n % #calls + 1]",
            f'  return wrk.format("{method}", call[1], nil, call[2])',
            "end",
        ]
    script.write_text("\n".join(lines))
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    script.unlink()

    def ms(label: str) -> float:
        m = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50": ms("50"),
        "p99": ms("99"),
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children (the server processes
    of ``--workers N`` and the runtime's workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def serve(
    data_dir: Path, database_url: str, workers: int, max_actions: int = 100, **settings: str
) -> tuple[subprocess.Popen[bytes], str, str]:
    """``actionsd serve`` without rate limits, ready, and a token with every scope; the
    runtime at its defaults. ``settings`` become ACTIONSD_<NAME> variables (e.g.
    runtime_workers="1")."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ACTIONSD_")},
        "ACTIONSD_RATE_LIMIT_BURST": "1000000000",
        "ACTIONSD_RATE_LIMIT_PER_SECOND": "1000000000",
        "ACTIONSD_MAX_ACTIONS": str(max_actions),
        **{f"ACTIONSD_{k.upper()}": v for k, v in settings.items()},
    }
    cmd = [
        sys.executable,
        "-m",
        "actionsd.cli",
        "serve",
        "--no-tls",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    if database_url:
        cmd += ["--database-url", database_url]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/readyz").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    scopes = "read:actions create:actions update:actions delete:actions execute:actions"
    token = subprocess.run(
        [
            sys.executable,
            "-m",
            "actionsd.cli",
            "token",
            "--data-dir",
            str(data_dir),
            "--scopes",
            scopes,
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.strip()
    return proc, base, token


def seed(base: str, token: str, count: int) -> list[str]:
    """``count`` deployed post-login actions, all bound to post-login."""
    ids = create_actions(base, token, "post-login", count)
    bind(base, token, "post-login", ids)
    return ids


def create_actions(base: str, token: str, trigger_id: str, count: int) -> list[str]:
    """``count`` built and deployed actions of ``trigger_id`` (its current version)."""
    api = httpx.Client(
        base_url=base + "/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    version = next(t.version for t in CATALOG if t.id == trigger_id and t.status == "CURRENT")
    ids = [
        api.post(
            "/actions/actions",
            json={
                "name": f"bench-{trigger_id}-{i}",
                "supported_triggers": [{"id": trigger_id, "version": version}],
                "code": CODE,
            },
        ).json()["id"]
        for i in range(count)
    ]
    for action_id in ids:
        while api.get(f"/actions/actions/{action_id}").json()["status"] != "built":
            time.sleep(0.02)
        api.post(f"/actions/actions/{action_id}/deploy").raise_for_status()
    return ids


def bind(base: str, token: str, trigger_id: str, ids: list[str]) -> None:
    httpx.patch(
        f"{base}/api/v2/actions/triggers/{trigger_id}/bindings",
        headers={"Authorization": f"Bearer {token}"},
        json={"bindings": [{"ref": {"type": "action_id", "value": i}} for i in ids]},
        timeout=60,
    ).raise_for_status()


def patch_body(ids: list[str]) -> str:
    return json.dumps(
        {
            "bindings": [
                {"ref": {"type": "action_id", "value": i}, "display_name": f"b{n}"}
                for n, i in enumerate(ids[:5])
            ]
        }
    )


def reset_postgres(url: str) -> None:
    engine = sa.create_engine(Settings(database_url=url).effective_database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


# Calls of the table, in the order they run: (key, label, connections).
CALLS = (
    ("trivial", "trivial (/healthz)", 16),
    ("get", "GET bindings (20)", 16),
    ("patch_one", "PATCH bindings (5), one trigger", 16),
    ("patch_spread", f"PATCH bindings (5), {len(SPREAD)} triggers", 16),
    ("execute_c1", "execute post-login (3 actions)", 1),
    ("execute", "execute post-login (3 actions)", 16),
)


def bench_server(
    name: str, database_url: str, workers: int, seconds: int, keys: set[str]
) -> dict[str, list[dict[str, float]]]:
    """Each call's runs (``REPEAT`` of them), each with ``x``: its ratio to the trivial
    endpoint measured just before it."""
    if database_url:
        reset_postgres(database_url)
    proc, base, token = serve(
        Path(tempfile.mkdtemp(prefix=f"bench-{name}-")), database_url, workers
    )
    try:
        ids = seed(base, token, 20)
        bindings = base + "/api/v2/actions/triggers/{}/bindings"
        spread = [(bindings.format("post-login"), patch_body(ids))]
        if "patch_spread" in keys:
            for trigger_id in SPREAD[1:]:
                others = create_actions(base, token, trigger_id, 5)
                spread.append((bindings.format(trigger_id), patch_body(others)))
        patch = {"token": token, "method": "PATCH"}
        execute = base + "/actionsd/v1/triggers/post-login/execute"
        fire = {"token": token, "method": "POST", "body": json.dumps({"event": EVENT})}
        calls: dict[str, tuple[str, dict[str, Any]]] = {
            "trivial": (base + "/healthz", {}),
            "get": (bindings.format("post-login") + "?per_page=20", {"token": token}),
            "patch_one": (spread[0][0], {**patch, "body": spread[0][1]}),
            "patch_spread": (base, {**patch, "spread": spread}),
            "execute_c1": (execute, fire),
            "execute": (execute, fire),
        }

        def measure(url: str, connections: int, warm: bool, **options: Any) -> dict[str, float]:
            if warm:
                wrk(url, connections=connections, seconds=WARM_UP, **options)  # caches
            before = cpu_seconds(proc.pid)
            x = wrk(url, connections=connections, seconds=seconds, **options)
            # Server CPU per answered request: less at the mercy of wrk sharing the cores.
            x["cpu_ms"] = (cpu_seconds(proc.pid) - before) / (x["rps"] * seconds) * 1000
            return x

        runs: dict[str, list[dict[str, float]]] = {}
        measured = [(k, c) for k, _, c in CALLS if k in keys and k != "trivial"]
        for _ in range(REPEAT):
            for key, connections in measured or [("trivial", 16)]:
                if key.startswith("execute"):
                    bind(base, token, "post-login", ids[:3])  # a PATCH run bound five
                # The host's speed drifts within a minute: each call's baseline is the
                # trivial endpoint measured just before it.
                trivial = measure(base + "/healthz", 16, False)
                trivial["x"] = 1.0
                runs.setdefault("trivial", []).append(trivial)
                if key != "trivial":
                    url, options = calls[key]
                    x = measure(url, connections, True, **options)
                    x["x"] = x["rps"] / trivial["rps"]
                    runs.setdefault(key, []).append(x)
        return runs
    finally:
        proc.terminate()
        proc.wait()


def bench_prism(seconds: int) -> dict[str, dict[str, float]]:
    port = free_port()
    proc = subprocess.Popen(
        [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), "-v", "warn", str(SPEC)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(base + "/actions/triggers", headers={"Authorization": "Bearer x"})
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        ids = [new_id() for _ in range(5)]
        wrk(base + "/actions/triggers/post-login/bindings", connections=64, seconds=WARM_UP)
        return {
            "get20": wrk(
                base + "/actions/triggers/post-login/bindings?per_page=20",
                connections=64,
                seconds=seconds,
                token="x",
            ),
            "patch5_c16": wrk(
                base + "/actions/triggers/post-login/bindings",
                connections=16,
                seconds=seconds,
                token="x",
                method="PATCH",
                body=patch_body(ids),
            ),
        }
    finally:
        proc.terminate()
        proc.wait()


def bench_scaling(seconds: int) -> list[tuple[int, dict[str, float], dict[str, float]]]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    proc, base, token = serve(data_dir, "", 1, max_actions=20_000)
    rows = []
    try:
        ids = seed(base, token, 20)
        engine = sa.create_engine(f"sqlite:///{data_dir / 'actionsd.db'}")
        have = 20
        for target in (10, 100, 1000, 10_000):
            if target > have:
                # Setup only: the extra actions go straight into the table, built drafts.
                with engine.begin() as conn:
                    now = now_ns()
                    conn.execute(
                        sa.text(
                            "INSERT INTO actions (id, name, trigger_id, trigger_version, code, runtime, dependencies, secrets, modules, status, build_errors, all_changes_deployed, created_at, updated_at) "
                            "VALUES (:id, :name, 'post-login', 'v3', :code, 'node22', '[]', '[]', '[]', 'built', '[]', 0, :t, :t)"
                        ),
                        [
                            {"id": new_id(), "name": f"filler-{n}", "code": CODE, "t": now + n}
                            for n in range(have, target)
                        ],
                    )
                    conn.execute(
                        sa.text("UPDATE counters SET value = value + 1 WHERE name = 'actions'")
                    )
                have = target
            get_bindings = wrk(
                base + "/api/v2/actions/triggers/post-login/bindings?per_page=20",
                connections=8,
                seconds=seconds,
                token=token,
            )
            get_actions = wrk(
                base + "/api/v2/actions/actions?per_page=20&page=0",
                connections=8,
                seconds=seconds,
                token=token,
            )
            rows.append((max(target, 20), get_bindings, get_actions))
        del ids
    finally:
        proc.terminate()
        proc.wait()
    return rows


CONFIGS = {
    "sqlite1": ("SQLite, 1 process", False, 1),
    "sqlite2": ("SQLite, 2 processes", False, 2),
    "pg1": ("PostgreSQL, 1 process", True, 1),
    "pg2": ("PostgreSQL, 2 processes", True, 2),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=SECONDS)
    parser.add_argument("--postgres", default=os.environ.get("ACTIONSD_TEST_PG_URL", ""))
    parser.add_argument(
        "--configs",
        default=os.environ.get("BENCH_CONFIGS", ",".join(CONFIGS)),
        help=f"comma-separated, of {', '.join(CONFIGS)} (env BENCH_CONFIGS)",
    )
    parser.add_argument(
        "--calls",
        default=os.environ.get("BENCH_CALLS", ",".join(key for key, _, _ in CALLS)),
        help="comma-separated, of " + ", ".join(key for key, _, _ in CALLS) + " (env BENCH_CALLS)",
    )
    parser.add_argument("--prism", action="store_true", help="also Prism mocking Auth0's spec")
    parser.add_argument("--scaling", action="store_true", help="also latency as the tenant grows")
    args = parser.parse_args()
    keys = set(args.calls.split(",")) | {"trivial"}
    prism: dict[str, dict[str, float]] = bench_prism(args.seconds) if args.prism else {}
    if prism:
        get, patch = prism["get20"], prism["patch5_c16"]
        print(
            f"Prism (stateless mock of Auth0's spec): GET bindings c64 {get['rps']:.0f} req/s "
            f"p50 {get['p50']:.1f} ms p99 {get['p99']:.1f} ms; PATCH c16 {patch['rps']:.0f} req/s "
            f"p50 {patch['p50']:.1f} ms p99 {patch['p99']:.1f} ms"
        )
    print(
        "\n| server | call | conns | req/s | p50 / p99 ms | x trivial | non-2xx | CPU ms/req |"
        "\n|---|---|---|---|---|---|---|---|"
    )
    for config in args.configs.split(","):
        name, postgres, workers = CONFIGS[config]
        if postgres and not args.postgres:
            print(f"| {name} | skipped: no ACTIONSD_TEST_PG_URL | | | | | | |")
            continue
        r = bench_server(config, args.postgres if postgres else "", workers, args.seconds, keys)
        for key, label, connections in CALLS:
            if key in r:
                x = {f: statistics.median(run[f] for run in r[key]) for f in r[key][0]}
                ratios = sorted(run["x"] for run in r[key])
                spread = (
                    f" ({ratios[0]:.2f}-{ratios[-1]:.2f})"
                    if key != "trivial" and len(ratios) > 1
                    else ""
                )
                print(
                    f"| {name} | {label} | {connections} | {x['rps']:,.0f} | "
                    f"{x['p50']:.1f} / {x['p99']:.1f} | {x['x']:.2f}{spread} | "
                    f"{x['errors']:.0f} | {x['cpu_ms']:.2f} |",
                    flush=True,
                )
                name = ""
    if args.scaling:
        rows = bench_scaling(max(3, args.seconds // 2))
        base_b, base_a = rows[0][1]["p50"], rows[0][2]["p50"]
        print("\n== latency as the tenant grows (SQLite, c8, a page of 20)")
        print(
            f"{'actions':>8} {'GET bindings p50/p99 ms':>24} {'x':>5} {'GET actions p50/p99 ms':>24} {'x':>5}"
        )
        for count, b, a in rows:
            print(
                f"{count:8d} {b['p50']:11.2f} / {b['p99']:8.2f} {b['p50'] / base_b:5.2f} {a['p50']:11.2f} / {a['p99']:8.2f} {a['p50'] / base_a:5.2f}"
            )


if __name__ == "__main__":
    main()
