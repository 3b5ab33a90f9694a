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
from actionsd.runtime.service import Runtime
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
