"""PostgreSQL's one-round-trip PATCH (``bindings.at_once``, migration 0007) against the
locked two-batch path every other database and list takes.

* Any list, refused or not, with or without If-Match, gets the same answer and leaves the
  same list from both paths (Hypothesis, on a real database, the per-process action
  lookup kept warm across examples).
* Another server process changes the actions a process has looked up (rename, delete,
  deploy, first deploy): the next PATCH through the first process sees every change.
* Actions that keep changing under a PATCH make it give up after a few attempts without
  writing anything, and the locked path then does the work.
* Concurrent PATCHes of one trigger are written together: each its own revision, in
  order, the last one's list stored; If-Match among them still holds.
* The bindings table is vacuumed after every so many replacements.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actionsd import errors
from actionsd.bindings import at_once, service
from actionsd.bindings.models import UpdateBindingsIn
from actionsd.db.fastread import AsyncPgPool
from actionsd.db.housekeeping import BindingsVacuum
from actionsd.db.raw import RawSql
from tests.conftest import fresh_postgres, make_settings
from tests.helpers import by_id, by_name, create_action, deploy, deployed_action, patch_bindings
from tests.servers import InProcessServer

pytestmark = pytest.mark.postgres
TRIGGER = "post-login"


def on(sql: RawSql) -> at_once.Connections:
    """Every piece of work on this one connection."""

    async def run(work: Any) -> Any:
        return await work(sql)

    return run


def one_round_trip(
    sql: RawSql, lookup: at_once.ActionLookup, items: list[Any], limits: Any, **kw: Any
) -> Any:
    connections = on(sql)
    writer = at_once.ListWriter(connections)
    return at_once.replace_bindings(connections, lookup, writer, TRIGGER, items, limits, **kw)


class Pair:
    """Two server processes' worth of state (each its own app) on one database."""

    def __init__(self, tmp: Path) -> None:
        url = fresh_postgres("at_once")
        self.a = InProcessServer(make_settings(tmp / "a", "sqlite", database_url=url)).start()
        self.b = InProcessServer(make_settings(tmp / "b", "sqlite", database_url=url)).start()
        self.dsn = (
            sa.make_url(self.a.settings.effective_database_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )

    def stop(self) -> None:
        self.a.stop()
        self.b.stop()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    servers = Pair(tmp_path_factory.mktemp("at-once"))
    yield servers
    servers.stop()


@pytest.fixture(scope="module")
def seeded(pair: Pair) -> dict[str, Any]:
    """Deployed post-login actions, one never deployed, one of another trigger."""
    with pair.a.client() as api:
        return {
            "deployed": [deployed_action(api, f"at-once-{i}") for i in range(4)],
            "undeployed": create_action(api, "at-once-draft"),
            "other": deployed_action(
                api, "at-once-m2m", trigger="credentials-exchange", version="v2"
            ),
        }


def refs(seeded: dict[str, Any]) -> st.SearchStrategy[list[dict[str, Any]]]:
    actions = [*seeded["deployed"], seeded["undeployed"], seeded["other"]]
    one = st.one_of(
        st.sampled_from(actions).map(lambda a: by_id(a["id"])),
        st.sampled_from(actions).map(lambda a: by_name(a["name"])),
        st.just(by_id("00000000-0000-0000-0000-000000000000")),
        st.just(by_name("no-such-action")),
    )
    extra = st.fixed_dictionaries(
        {},
        optional={
            "display_name": st.sampled_from(["first", "second"]),
            "secrets": st.lists(
                st.fixed_dictionaries({"name": st.sampled_from(["A", "B"]), "value": st.just("v")}),
                max_size=2,
            ),
        },
    )
    return st.lists(st.tuples(one, extra).map(lambda pair: {**pair[0], **pair[1]}), max_size=5)


def outcome(replaced: service.Replaced | BaseException) -> Any:
    """What a caller sees, minus what differs by design (new binding ids, timestamps)."""
    if isinstance(replaced, errors.DomainError):
        return (type(replaced).__name__, replaced.message)
    if isinstance(replaced, BaseException):
        raise replaced
    body = json.loads(replaced.render())
    for binding in body["bindings"]:
        del binding["id"], binding["created_at"], binding["updated_at"]
    return body


async def stored(conn: Any) -> list[tuple[Any, ...]]:
    cur = await conn.execute(
        "SELECT position, action_id, display_name, secrets::text FROM bindings "
        "WHERE trigger_id = %s ORDER BY position",
        (TRIGGER,),
    )
    rows = await cur.fetchall()
    # Secrets carry the time they were set: compare their names and values.
    return [(p, a, d, [(s["name"], s["value"]) for s in json.loads(x)]) for p, a, d, x in rows]


async def revision(conn: Any) -> int:
    cur = await conn.execute("SELECT revision FROM triggers WHERE id = %s", (TRIGGER,))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def test_both_paths_answer_and_store_the_same(pair: Pair, seeded: dict[str, Any]) -> None:
    lookup = at_once.ActionLookup()  # kept across examples: hits, misses and stale entries
    limits = pair.a.state.limits

    async def both(items: list[Any], if_match: str) -> None:
        async with await psycopg.AsyncConnection.connect(pair.dsn, autocommit=True) as conn:
            sql = RawSql(conn)
            results = []
            for path in ("locked", "at once"):
                before = await revision(conn)
                expected = {"none": None, "current": before, "stale": before - 1}[if_match]
                try:
                    if path == "locked":
                        steps = service.replace_bindings(
                            sql, TRIGGER, items, limits, expected_revision=expected
                        )
                        replaced: Any = await sql.arun(steps)
                    else:
                        replaced = await one_round_trip(
                            sql, lookup, items, limits, expected_revision=expected
                        )
                        assert replaced is not None  # nothing else writes: never given up
                except errors.DomainError as refused:
                    replaced = refused
                after = await revision(conn)
                if isinstance(replaced, service.Replaced):
                    assert replaced.revision == after == before + 1
                else:
                    assert after == before  # refused: nothing written
                results.append((outcome(replaced), await stored(conn)))
            assert results[0] == results[1]

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(refs(seeded), st.sampled_from(["none", "none", "current", "stale"]))
    def check(bindings: list[dict[str, Any]], if_match: str) -> None:
        items = UpdateBindingsIn.model_validate({"bindings": bindings}).bindings
        asyncio.run(both(items, if_match))

    check()


def test_changes_made_through_another_process_are_seen(pair: Pair) -> None:
    with pair.a.client() as a, pair.b.client() as b:
        renamed, deleted, redeployed = (deployed_action(b, f"seen-{i}") for i in range(3))
        draft = create_action(b, "seen-draft")
        # Server A looks every one of them up.
        everything = [by_name(renamed["name"]), by_id(deleted["id"]), by_id(redeployed["id"])]
        assert patch_bindings(a, TRIGGER, everything).status_code == 200
        refused = patch_bindings(a, TRIGGER, [by_id(draft["id"])])
        assert refused.status_code == 400, refused.text

        assert b.patch(f"/actions/actions/{renamed['id']}", json={"name": "seen-new"}).is_success
        assert patch_bindings(b, TRIGGER, []).status_code == 200
        assert b.delete(f"/actions/actions/{deleted['id']}").status_code == 204
        code = "exports.onExecutePostLogin = async () => { /* 2 */ };"
        assert b.patch(f"/actions/actions/{redeployed['id']}", json={"code": code}).is_success
        deploy(b, redeployed["id"])
        deploy(b, draft["id"])

        # First, a list A's lookup holds every action of, as they were (the draft was
        # undeployed then): it is written with the actions as they are now.
        latest = patch_bindings(a, TRIGGER, [by_id(redeployed["id"]), by_id(draft["id"])])
        assert latest.status_code == 200, latest.text
        shown = latest.json()["bindings"]
        assert shown[0]["action"]["current_version"]["number"] == 2
        assert shown[1]["action"]["id"] == draft["id"]
        old_name = patch_bindings(a, TRIGGER, [by_name(renamed["name"])])
        assert old_name.status_code == 404, old_name.text
        new_name = patch_bindings(a, TRIGGER, [by_name("seen-new")])
        assert new_name.status_code == 200, new_name.text
        assert new_name.json()["bindings"][0]["action"]["name"] == "seen-new"
        gone = patch_bindings(a, TRIGGER, [by_id(deleted["id"])])
        assert gone.status_code == 404, gone.text
        listed = b.get(f"/actions/triggers/{TRIGGER}/bindings").json()["bindings"]
        assert [x["id"] for x in listed] == [x["id"] for x in new_name.json()["bindings"]]
        assert patch_bindings(a, TRIGGER, []).status_code == 200


class Meddling(RawSql):
    """Moves the actions counter from another connection right after every read of the
    actions, as a busy tenant's deploys would."""

    def __init__(self, conn: Any, other: Any) -> None:
        super().__init__(conn)
        self.other = other
        self.reads = 0

    async def afetch(self, sql: str, params: Any) -> list[dict[str, Any]]:
        rows = await super().afetch(sql, params)
        if sql == at_once.READ_ACTIONS:
            self.reads += 1
            await self.other.execute("UPDATE counters SET value = value + 1 WHERE name = 'actions'")
        return rows


def test_gives_up_without_writing_when_the_actions_keep_changing(
    pair: Pair, seeded: dict[str, Any]
) -> None:
    items = UpdateBindingsIn.model_validate(
        {"bindings": [by_id(a["id"]) for a in seeded["deployed"]]}
    ).bindings

    async def scenario() -> None:
        connect = psycopg.AsyncConnection.connect
        async with (
            await connect(pair.dsn, autocommit=True) as conn,
            await connect(pair.dsn, autocommit=True) as other,
        ):
            before, listed = await revision(conn), await stored(conn)
            sql = Meddling(conn, other)
            lookup = at_once.ActionLookup()
            replaced = await one_round_trip(sql, lookup, items, pair.a.state.limits)
            assert replaced is None
            assert sql.reads == at_once.ATTEMPTS
            assert (await revision(conn), await stored(conn)) == (before, listed)
            # The locked path the route then takes does it.
            done = await sql.arun(
                service.replace_bindings(sql, TRIGGER, items, pair.a.state.limits)
            )
            assert done.revision == before + 1
            assert [row[1] for row in await stored(conn)] == [a["id"] for a in seeded["deployed"]]

    asyncio.run(scenario())


def test_bindings_table_is_vacuumed_every_so_many_replacements(pair: Pair) -> None:
    async def scenario() -> int:
        vacuum = BindingsVacuum(pair.a.settings.effective_database_url, every=3, interval=0)
        for _ in range(3):
            vacuum.replaced()
        await asyncio.sleep(0)
        await vacuum.aclose()  # waits for the running VACUUM
        for _ in range(2):
            vacuum.replaced()  # not due yet
        await vacuum.aclose()
        return vacuum.runs

    async def vacuumed() -> bool:
        async with await psycopg.AsyncConnection.connect(pair.dsn, autocommit=True) as conn:
            cur = await conn.execute(
                "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'bindings'"
            )
            row = await cur.fetchone()
            return row is not None and row[0] > 0

    assert asyncio.run(scenario()) == 1
    assert asyncio.run(vacuumed())


def test_route_uses_one_round_trip_path(pair: Pair, seeded: dict[str, Any]) -> None:
    """Over HTTP, the usual PATCH fills the process's lookup (the path is taken)."""
    ids = [a["id"] for a in seeded["deployed"][:2]]
    with httpx.Client(base_url=pair.b.url + "/api/v2") as raw:
        raw.headers["Authorization"] = f"Bearer {pair.b.token()}"
        assert patch_bindings(raw, TRIGGER, [by_id(i) for i in ids]).status_code == 200
    assert pair.b.state.action_lookup.get(tuple(ids), ()) is not None


def test_concurrent_patches_of_one_trigger_are_written_together(
    pair: Pair, seeded: dict[str, Any]
) -> None:
    deployed = [a["id"] for a in seeded["deployed"]]
    lists = [[by_id(deployed[i % 4]), by_id(deployed[(i + 1) % 4])] for i in range(40)]
    limits = pair.a.state.limits

    async def scenario() -> None:
        pool = AsyncPgPool(pair.dsn, 2)

        async def connections(work: Any) -> Any:
            async with pool.connection() as conn:
                return await work(RawSql(conn))

        lookup, writer = at_once.ActionLookup(), at_once.ListWriter(connections)
        async with await psycopg.AsyncConnection.connect(pair.dsn, autocommit=True) as conn:
            # One first, so that the others' actions are all looked up already: they
            # reach the writer in one turn of the loop, while nothing is being written.
            every = [by_id(action_id) for action_id in deployed]
            first = UpdateBindingsIn.model_validate({"bindings": every}).bindings
            await at_once.replace_bindings(connections, lookup, writer, TRIGGER, first, limits)
            start = await revision(conn)

            async def patch(index: int) -> Any:
                items = UpdateBindingsIn.model_validate({"bindings": lists[index]}).bindings
                # Five of them say which revision they replace.
                expected = start + index if index % 8 == 7 else None
                try:
                    return await at_once.replace_bindings(
                        connections,
                        lookup,
                        writer,
                        TRIGGER,
                        items,
                        limits,
                        expected_revision=expected,
                    )
                except errors.PreconditionFailed as refused:
                    return refused

            results = await asyncio.gather(*(patch(i) for i in range(len(lists))))
            written = {i: r for i, r in enumerate(results) if isinstance(r, service.Replaced)}
            refused = [i for i, r in enumerate(results) if not isinstance(r, service.Replaced)]
            assert all(i % 8 == 7 for i in refused)
            revisions = sorted(r.revision for r in written.values())
            assert revisions == list(range(start + 1, start + 1 + len(written)))
            assert await revision(conn) == start + len(written)
            for index, result in written.items():
                if index % 8 == 7:
                    assert result.revision == start + index + 1
            # One call for each run without If-Match, one for each If-Match (and the
            # first PATCH's own).
            assert writer.calls == 1 + 2 * len([i for i in range(len(lists)) if i % 8 == 7]) + 1
            last = max(written, key=lambda i: written[i].revision)
            assert [row[1] for row in await stored(conn)] == [
                ref["ref"]["value"] for ref in lists[last]
            ]
        await pool.aclose()

    asyncio.run(scenario())
