"""HTTP benchmark: GET bindings (20) and PATCH bindings (5) against the same server's
trivial endpoint (/healthz) measured in the same run, on SQLite and PostgreSQL (1 and 2
processes each), with the server's CPU time per request, and against Stoplight Prism
mocking Auth0's spec; then how latency grows with 10 to 10,000 actions in the tenant.

    make bench-http      (installs wrk and Prism, starts PostgreSQL when run as root)

``BENCH_CALLS`` (comma-separated keys: trivial, get20, patch5_c16, patch5_c64,
execute_c1, execute_c16) selects the calls, ``BENCH_CONFIGS`` (sqlite1, sqlite2, pg1,
pg2) the servers, ``--seconds`` the length of each run; ``BENCH_SKIP_PRISM=1`` and
``--skip-scaling`` leave those parts out. The trivial call always runs: it is the
baseline. Execute fires post-login with three trivial actions bound (the login path).

Load comes from wrk (-t2) on this machine, sharing its two cores with the server: read
the ratios, not the absolute numbers. Each measured run follows 2 s of the same load.
Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import free_port  # noqa: E402

from actionsd.config import Settings  # noqa: E402
from actionsd.util import new_id, now_ns  # noqa: E402

SPEC = ROOT.parent / "shared" / "reference" / "auth0-management-api-v2.actions-subset.oas.json"
PRISM = ROOT / "benchmarks" / "node" / "node_modules" / ".bin" / "prism"
CODE = "exports.onExecutePostLogin = async (event, api) => {};"
WARM_UP = 2  # seconds of the same load before each measured run, not counted


def wrk(
    url: str,
    *,
    connections: int,
    seconds: int,
    token: str = "",
    method: str = "GET",
    body: str = "",
) -> dict[str, float]:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    lines = [f'wrk.method = "{method}"', 'wrk.headers["Content-Type"] = "application/json"']
    if token:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {token}"')
    if body:
        lines.append(f"wrk.body = [[{body}]]")
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
    """``actionsd serve`` without rate limits, ready, and a token with every scope.
    ``settings`` become ACTIONSD_<NAME> variables (e.g. runtime_engine="node")."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ACTIONSD_")},
        "ACTIONSD_RATE_LIMIT_BURST": "1000000000",
        "ACTIONSD_RATE_LIMIT_PER_SECOND": "1000000000",
        "ACTIONSD_MAX_ACTIONS": str(max_actions),
        "ACTIONSD_RUNTIME_WORKERS": "1",
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
    api = httpx.Client(
        base_url=base + "/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    ids = [
        api.post(
            "/actions/actions",
            json={
                "name": f"bench-{i}",
                "supported_triggers": [{"id": "post-login", "version": "v3"}],
                "code": CODE,
            },
        ).json()["id"]
        for i in range(count)
    ]
    for action_id in ids:
        while api.get(f"/actions/actions/{action_id}").json()["status"] != "built":
            time.sleep(0.02)
        api.post(f"/actions/actions/{action_id}/deploy").raise_for_status()
    api.patch(
        "/actions/triggers/post-login/bindings",
        json={"bindings": [{"ref": {"type": "action_id", "value": i}} for i in ids]},
    ).raise_for_status()
    return ids


def bind_login(base: str, token: str, ids: list[str]) -> None:
    """Three trivial actions on post-login (the bindings PATCHes later act on the same
    trigger; execute is measured first, on these three)."""
    httpx.patch(
        base + "/api/v2/actions/triggers/post-login/bindings",
        headers={"Authorization": f"Bearer {token}"},
        json={"bindings": [{"ref": {"type": "action_id", "value": i}} for i in ids]},
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


def bench_server(
    name: str, database_url: str, workers: int, seconds: int
) -> dict[str, dict[str, float]]:
    if database_url:
        reset_postgres(database_url)
    proc, base, token = serve(
        Path(tempfile.mkdtemp(prefix=f"bench-{name}-")),
        database_url,
        workers,
        runtime_workers=os.environ.get("BENCH_RUNTIME_WORKERS", "2"),  # the default
    )
    try:
        ids = seed(base, token, 20)
        bind_login(base, token, ids[:3])
        execute_url = base + "/actionsd/v1/triggers/post-login/execute"
        execute = {
            "token": token,
            "method": "POST",
            "body": json.dumps({"event": {"user": {"user_id": "auth0|bench"}}}),
        }
        calls = {
            "trivial": (base + "/healthz", {"connections": 64}),
            "trivial_c16": (base + "/healthz", {"connections": 16}),
            # Before the PATCHes, which rebind post-login.
            "execute_c1": (execute_url, {**execute, "connections": 1}),
            "execute_c16": (execute_url, {**execute, "connections": 16}),
            "get20": (
                base + "/api/v2/actions/triggers/post-login/bindings?per_page=20",
                {"connections": 64, "token": token},
            ),
            "patch5_c16": (
                base + "/api/v2/actions/triggers/post-login/bindings",
                {"connections": 16, "token": token, "method": "PATCH", "body": patch_body(ids)},
            ),
            "patch5_c64": (
                base + "/api/v2/actions/triggers/post-login/bindings",
                {"connections": 64, "token": token, "method": "PATCH", "body": patch_body(ids)},
            ),
        }
        chosen = os.environ.get("BENCH_CALLS")
        if chosen:
            calls = {
                k: v for k, v in calls.items() if k.startswith("trivial") or k in chosen.split(",")
            }
        results = {}
        for key, (url, options) in calls.items():
            wrk(url, seconds=WARM_UP, **options)  # connections made, caches filled
            before = cpu_seconds(proc.pid)
            results[key] = wrk(url, seconds=seconds, **options)
            spent = cpu_seconds(proc.pid) - before
            # Server CPU per answered request: less at the mercy of wrk sharing the cores.
            results[key]["cpu_ms"] = spent / (results[key]["rps"] * seconds) * 1000
        return results
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--postgres", default=os.environ.get("ACTIONSD_TEST_PG_URL", ""))
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--only-scaling", action="store_true")
    args = parser.parse_args()
    configs_run = not args.only_scaling
    configs = [("sqlite1", "SQLite, 1 process", "", 1), ("sqlite2", "SQLite, 2 processes", "", 2)]
    if args.postgres:
        configs += [
            ("pg1", "PostgreSQL, 1 process", args.postgres, 1),
            ("pg2", "PostgreSQL, 2 processes", args.postgres, 2),
        ]
    if os.environ.get("BENCH_CONFIGS"):
        configs = [c for c in configs if c[0] in os.environ["BENCH_CONFIGS"].split(",")]
    skip_prism = os.environ.get("BENCH_SKIP_PRISM") == "1"
    prism = bench_prism(args.seconds) if configs_run and not skip_prism else {}
    if prism:
        get, patch = prism["get20"], prism["patch5_c16"]
        print(
            f"Prism (stateless mock of Auth0's spec): GET bindings {get['rps']:.0f} req/s "
            f"p50 {get['p50']:.1f} ms p99 {get['p99']:.1f} ms; PATCH c16 {patch['rps']:.0f} req/s "
            f"p50 {patch['p50']:.1f} ms p99 {patch['p99']:.1f} ms"
        )
    for _key, name, url, workers in configs if configs_run else []:
        r = bench_server(name, url, workers, args.seconds)
        print(f"\n== {name}")
        print(
            f"{'call':34} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'x trivial':>10} {'x Prism':>8} {'non-2xx':>8} {'cpu ms/req':>11}"
        )
        for label, key, peer, base_key in (
            ("trivial endpoint (/healthz), c64", "trivial", None, "trivial"),
            ("trivial endpoint (/healthz), c16", "trivial_c16", None, "trivial_c16"),
            ("execute post-login (3), c1", "execute_c1", None, "trivial_c16"),
            ("execute post-login (3), c16", "execute_c16", None, "trivial_c16"),
            ("GET bindings (20), c64", "get20", "get20", "trivial"),
            ("PATCH bindings (5), c16", "patch5_c16", "patch5_c16", "trivial"),
            ("PATCH bindings (5), c64", "patch5_c64", "patch5_c16", "trivial"),
        ):
            if key not in r:
                continue
            x = r[key]
            trivial = r[base_key]["rps"]
            versus = f"{x['rps'] / prism[peer]['rps']:.2f}" if peer and prism else "-"
            print(
                f"{label:34} {x['rps']:8.0f} {x['p50']:7.1f} {x['p99']:7.1f} {x['rps'] / trivial:10.2f} {versus:>8} {x['errors']:8.0f} {x['cpu_ms']:11.3f}"
            )
    if not args.skip_scaling:
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
