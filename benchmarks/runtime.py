"""Runtime benchmark: a post-login flow of three trivial actions, through the Python API
and over HTTP, against a bare JSON round trip to a warm worker measured in the same run.

    .venv/bin/python benchmarks/runtime.py [--flows 3000] [--before /path/to/old/checkout]

``--before`` runs that checkout's own benchmark first, in the same run, so that a change
is compared with what it replaces under the same load (e.g. ``git archive main``).

Figures are printed as ratios to the bare round trip of the same engine (this machine
is noisy; compare ratios, not absolute numbers). Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from benchmarks.http_api import serve

from actionsd.config import Settings
from actionsd.runtime.pool import Sandbox, Worker
from actionsd.runtime.service import Runtime

TRIVIAL = "exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://x/n', %d); };"
EVENT = {
    "user": {"user_id": "auth0|bench", "email": "b@example.com"},
    "request": {"ip": "127.0.0.1"},
}


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99) - 1]


def timed(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def throughput(fn, n: int, threads: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: fn(), range(n)))
    return n / (time.perf_counter() - start)


def bind_three(base: str, token: str) -> None:
    api = httpx.Client(base_url=base + "/api/v2", headers={"Authorization": f"Bearer {token}"})
    ids = []
    for i in range(3):
        a = api.post(
            "/actions/actions",
            json={
                "name": f"bench-{i}",
                "supported_triggers": [{"id": "post-login", "version": "v3"}],
                "code": TRIVIAL % i,
            },
        ).json()
        ids.append(a["id"])
    for action_id in ids:
        while api.get(f"/actions/actions/{action_id}").json()["status"] != "built":
            time.sleep(0.05)
        api.post(f"/actions/actions/{action_id}/deploy").raise_for_status()
    api.patch(
        "/actions/triggers/post-login/bindings",
        json={"bindings": [{"ref": {"type": "action_id", "value": i}} for i in ids]},
    ).raise_for_status()


def bench_engine(engine: str, flows: int, workers: int) -> dict[str, float]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"bench-{engine}-"))
    proc, base, token = serve(data_dir, "", 1, runtime_workers=str(workers))
    results: dict[str, float] = {}
    try:
        bind_three(base, token)
        settings = Settings(data_dir=data_dir, runtime_workers=workers, tls=False)

        # Baseline: a bare JSON round trip to a warm worker.
        sandbox = Sandbox((), "internet", 128, 1024, 32, data_dir / "deno")
        worker = Worker(sandbox)
        timed(lambda: worker.call({"type": "ping"}, 5), 500)
        bare = timed(lambda: worker.call({"type": "ping"}, 5), flows)
        worker.kill()
        results["bare_p50"], results["bare_p99"] = percentiles(bare)

        starts = []
        for _ in range(10):
            w = Worker(sandbox)
            starts.append(w.start_ms)
            w.kill()
        results["cold_start_ms"] = statistics.median(starts)

        runtime = Runtime.open(settings)
        try:
            fire = lambda: runtime.fire("post-login", EVENT)  # noqa: E731
            assert fire().outcome["idToken"]["claims"] == {"https://x/n": 2}
            timed(fire, 300)
            py = timed(fire, flows)
            results["py_p50"], results["py_p99"] = percentiles(py)
            results["py_flows_s"] = throughput(fire, flows, workers)
        finally:
            runtime.close()

        local = threading.local()

        def http_fire() -> None:
            if not hasattr(local, "client"):
                local.client = httpx.Client(
                    base_url=base, headers={"Authorization": f"Bearer {token}"}
                )
            r = local.client.post("/actionsd/v1/triggers/post-login/execute", json={"event": EVENT})
            r.raise_for_status()

        timed(http_fire, 300)
        http = timed(http_fire, flows)
        results["http_p50"], results["http_p99"] = percentiles(http)
        results["http_flows_s"] = throughput(http_fire, flows, workers * 2)
    finally:
        proc.terminate()
        proc.wait()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", nargs="+", default=["deno"])
    parser.add_argument("--flows", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--before", type=Path, help="an older checkout to measure first")
    args = parser.parse_args()
    if args.before:
        print(f"== before: {args.before}")
        old = args.before.resolve()
        env = {**os.environ, "PYTHONPATH": f"{old / 'src'}:{old}"}
        script = [str(old / "benchmarks" / "runtime.py"), "--engines", "deno"]
        subprocess.run(
            [sys.executable, *script, "--flows", str(args.flows)], env=env, check=True, cwd=old
        )
        print("== after: this checkout")
    for engine in args.engines:
        r = bench_engine(engine, args.flows, args.workers)
        bare = r["bare_p50"]
        print(
            f"\n== {engine}: {args.flows} flows of 3 trivial post-login actions, {args.workers} workers"
        )
        print(
            f"bare round trip to a warm worker   p50 {bare:.3f} ms  p99 {r['bare_p99']:.3f} ms   (x1.0)"
        )
        print(
            f"flow via Python API                p50 {r['py_p50']:.3f} ms  p99 {r['py_p99']:.3f} ms   (x{r['py_p50'] / bare:.1f})  {r['py_flows_s']:.0f} flows/s"
        )
        print(
            f"flow via HTTP entry point          p50 {r['http_p50']:.3f} ms  p99 {r['http_p99']:.3f} ms   (x{r['http_p50'] / bare:.1f})  {r['http_flows_s']:.0f} flows/s"
        )
        print(f"cold worker start                  median {r['cold_start_ms']:.1f} ms")


if __name__ == "__main__":
    main()
