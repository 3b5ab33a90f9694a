"""The runtime without HTTP: the Python API, build recovery and exclusivity, retention."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import httpx
import sqlalchemy as sa

from actionsd.builds.builder import BuildError, BuildInput
from actionsd.builds.npm import NpmBuilder
from actionsd.builds.worker import STALE_CLAIM_NS, BuildWorker
from actionsd.db.schema import actions, executions
from actionsd.runtime.executions import ExecutionStore
from actionsd.runtime.service import FlowResult, Runtime
from actionsd.util import now_ns
from tests.conftest import make_settings
from tests.helpers import create_action
from tests.runtime_helpers import bind, deployed, execution, handler, root
from tests.servers import InProcessServer

PL = "post-login"


def test_python_api_fires_and_resumes(server: InProcessServer, api: httpx.Client) -> None:
    bind(
        api,
        PL,
        handler(PL, "api.idToken.setCustomClaim('https://x/a', event.user.name);"),
        "exports.onExecutePostLogin = async (e, api) => { api.redirect.sendUserTo('https://x.example/step'); };"
        "exports.onContinuePostLogin = async (e, api) => { api.idToken.setCustomClaim('https://x/b', e.request.query.ok); };",
    )
    exchange = deployed(api, CTE, handler(CTE, EXCHANGE))
    runtime = Runtime.open(server.settings)
    try:
        first = runtime.fire(PL, {"user": {"name": "Grace"}})
        assert first.status == "suspended"
        assert first.outcome["redirect"] == {"url": "https://x.example/step"}
        done = runtime.resume(first.execution_id, {"query": {"ok": "yes"}})
        assert done.status == "final"
        assert done.outcome["idToken"]["claims"] == {"https://x/a": "Grace", "https://x/b": "yes"}
        swapped = runtime.fire(CTE, {"transaction": {"subject_token": "u-7"}}, exchange["id"])
        assert swapped.outcome == {"authentication": {"user": {"user_id": "u-7"}}}, swapped
    finally:
        runtime.close()


CTE = "custom-token-exchange"
EXCHANGE = "api.authentication.setUserById(event.transaction.subject_token);"


def test_entity_bound_triggers_run_the_named_deployed_action(api: httpx.Client) -> None:
    """An entity-bound trigger has no bindings: its entity (a token exchange profile, an
    event stream, ...) names one action, and so does the caller of execute."""
    exchange = deployed(api, CTE, handler(CTE, EXCHANGE))
    (login,) = bind(api, PL, handler(PL, ""))
    draft = create_action(api, trigger=CTE, version="v1", code=handler(CTE, EXCHANGE))
    url = f"{root(api)}/actionsd/v1/triggers/{{}}/execute"

    def execute(trigger: str, **body: object) -> httpx.Response:
        return api.post(url.format(trigger), json={"event": {}, **body})

    answer = execute(CTE, event={"transaction": {"subject_token": "u-1"}}, action_id=exchange["id"])
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["outcome"] == {"authentication": {"user": {"user_id": "u-1"}}}, result
    assert result["results"][0]["binding_id"] is None
    recorded = execution(api, result["execution_id"])
    assert recorded["trigger_id"] == CTE and recorded["status"] == "final"

    refused = {
        "no action": (execute(CTE), 400, "is entity-bound and has no bindings"),
        "bound trigger": (execute(PL, action_id=login["id"]), 400, "runs its bound actions"),
        "another trigger's": (execute(CTE, action_id=login["id"]), 400, "is not an action of"),
        "not deployed": (execute(CTE, action_id=draft["id"]), 400, "has no deployed version"),
        "unknown": (execute(CTE, action_id="act_nope"), 404, "That action does not exist."),
    }
    for case, (response, status, message) in refused.items():
        assert response.status_code == status, (case, response.text)
        assert message in response.json()["message"], (case, response.text)


class CountingBuilder:
    """The real npm builder, counting what it builds (instrumentation only)."""

    def __init__(self, data_dir: Path) -> None:
        self.inner = NpmBuilder(data_dir)
        self.built: Counter[str] = Counter()
        self.lock = threading.Lock()

    def build(self, item: BuildInput) -> list[BuildError]:
        with self.lock:
            self.built[item.code] += 1
        return self.inner.build(item)

    def close(self) -> None:
        self.inner.close()


def test_interrupted_build_is_retried_and_none_runs_twice(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite", build_worker=False, runtime=False)
    server = InProcessServer(settings).start()
    try:
        with server.client() as api:
            made = [
                create_action(api, code=f"exports.onExecutePostLogin = async () => {{}}; // {i}")
                for i in range(30)
            ]
        engine = server.state.engine
        # A build claimed by a process that died two minutes ago...
        with engine.begin() as conn:
            conn.execute(
                actions.update()
                .where(actions.c.id == made[0]["id"])
                .values(status="building", build_claimed_at=now_ns() - STALE_CLAIM_NS * 2)
            )
        # ...and two workers (as in two server processes) racing over everything pending.
        counting = CountingBuilder(tmp_path)
        workers = [BuildWorker(engine, counting) for _ in range(2)]
        threads = [threading.Thread(target=w.run_pending) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with engine.connect() as conn:
            statuses = Counter(conn.execute(sa.select(actions.c.status)).scalars())
        assert statuses == {"built": 30}
        assert len(counting.built) == 30 and set(counting.built.values()) == {1}, (
            "each draft built exactly once"
        )
        counting.close()
    finally:
        server.stop()


def test_executions_expire_after_retention(server: InProcessServer) -> None:
    store = ExecutionStore(server.state.engine, retention_days=10)
    try:
        old = now_ns() - 11 * 86400 * 1_000_000_000
        row = {
            "id": "old-one",
            "trigger_id": PL,
            "status": "final",
            "results": [],
            "outcome": {},
            "state": None,
            "created_at": old,
            "updated_at": old,
        }
        store.record(row, now=True)
        assert store.load("old-one") is None
        with server.state.engine.begin() as conn:
            conn.execute(executions.delete().where(executions.c.id == "old-one"))
    finally:
        store.close()


def test_runs_and_answers_of_any_size_cross_a_realms_channel(
    server: InProcessServer, api: httpx.Client
) -> None:
    """A realm's channel grows to fit a run or an answer, up to 32 MB each way: past that,
    the action fails with the limit named, and the realm goes on serving."""
    mb = 1024 * 1024
    bind(
        api,
        PL,
        handler(
            PL,
            """
            const n = event.user.app_metadata.repeat;
            for (let i = 0; i < n; i++) api.idToken.setCustomClaim('https://x/c' + (i % event.user.app_metadata.keys), 'c'.repeat(event.user.app_metadata.size));
            api.idToken.setCustomClaim('https://x/length', event.user.app_metadata.blob.length);
            """,
        ),
    )
    runtime = Runtime.open(
        server.settings.model_copy(update={"runtime_memory_mb": 512, "runtime_rss_mb": 2048})
    )

    def fire(blob: int, repeat: int = 0, size: int = 0, keys: int = 1) -> FlowResult:
        metadata = {"blob": "b" * blob, "repeat": repeat, "size": size, "keys": keys}
        return runtime.fire(PL, {"user": {"app_metadata": metadata}})

    try:
        # A 3 MB run, then a 3 MB answer (six calls that leave one 500 KB claim).
        assert fire(3 * mb).outcome["idToken"]["claims"] == {"https://x/length": 3 * mb}
        grown = fire(10, repeat=6, size=500 * 1024).outcome["idToken"]["claims"]
        assert len(grown["https://x/c0"]) == 500 * 1024 and grown["https://x/length"] == 10
        too_big = fire(33 * mb)
        assert too_big.error is not None
        assert "exceed the 32 MB a run may hold" in too_big.error["message"], too_big.error
        too_many = fire(10, repeat=3, size=11 * mb, keys=3)
        assert too_many.error is not None
        assert "exceed the 32 MB an answer may hold" in too_many.error["message"], too_many.error
        assert "idToken" not in too_many.outcome, "nothing of the refused answer applies"
        assert fire(5).outcome["idToken"]["claims"] == {"https://x/length": 5}
    finally:
        runtime.close()
