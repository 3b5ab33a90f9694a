"""The PATCH path for lists that refer to actions only (``bindings.at_once``: checked
against the process's lookup of the actions, swapped under the lock; on PostgreSQL by
migration 0007's function) against the locked path, on SQLite and PostgreSQL.

* Any list, refused or not, with or without If-Match, gets the same answer and leaves the
  same list from both paths (Hypothesis, on a real database, the per-process action
  lookup kept warm across examples).
* Another server process changes the actions a process has looked up (rename, delete,
  deploy, first deploy): the next PATCH through the first process sees every change.
* Actions that keep changing under a PATCH make it give up after a few attempts without
  writing anything, and the locked path then does the work.
* Concurrent PATCHes of one trigger are written together: each its own revision, in
  order, the last one's list stored; If-Match among them still holds.
* PostgreSQL's bindings table is vacuumed after every so many replacements.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actionsd import errors
from actionsd.bindings import at_once, service
from actionsd.bindings.models import UpdateBindingsIn
from actionsd.db.housekeeping import BindingsVacuum
from actionsd.db.raw import RawSql, Steps
from tests.conftest import fresh_postgres, make_settings
from tests.helpers import by_id, by_name, create_action, deploy, deployed_action, patch_bindings
from tests.servers import InProcessServer

TRIGGER = "post-login"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class Db:
    """A connection of the test's own to the servers' database, and both PATCH paths
    on it."""

    def __init__(self, url: str) -> None:
        self.url = sa.make_url(url)
        self.postgres = self.url.get_backend_name() == "postgresql"
        self.conn: Any = None

    async def __aenter__(self) -> Db:
        if self.postgres:
            dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
        else:
            self.conn = sqlite3.connect(self.url.database or "", isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout=30000")
        self.sql = RawSql(self.conn)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.postgres:
            await self.conn.close()
        else:
            self.conn.close()

    async def rows(self, query: str, params: Any = ()) -> list[tuple[Any, ...]]:
        if self.postgres:
            cur = await self.conn.execute(query.replace("?", "%s"), params)
            return list(await cur.fetchall()) if cur.description else []
        return list(self.conn.execute(query, params).fetchall())

    async def fetch(self, query: str, params: Any) -> list[dict[str, Any]]:
        if self.postgres:
            return await self.sql.afetch(query, params)
        cursor = self.conn.execute(query, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    async def run(self, steps: Steps[Any]) -> Any:
        """``steps`` in one write transaction."""
        if self.postgres:
            return await self.sql.arun(steps)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            result = self.sql.run(steps)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return result

    def writer(self) -> at_once.ListWriter:
        if self.postgres:

            async def connections(work: Any) -> Any:
                return await work(self.sql)

            return at_once.ListWriter(at_once.postgres_swap(connections))

        async def swap(trigger_id: str, last: at_once.Planned, count: int) -> int:
            result: int = await self.run(at_once.swap_steps(trigger_id, last, count))
            return result

        return at_once.ListWriter(swap)

    async def revision(self) -> int:
        return int(
            (await self.rows("SELECT revision FROM triggers WHERE id = ?", (TRIGGER,)))[0][0]
        )

    async def stored(self) -> list[tuple[Any, ...]]:
        rows = await self.rows(
            "SELECT position, action_id, display_name, secrets FROM bindings "
            "WHERE trigger_id = ? ORDER BY position",
            (TRIGGER,),
        )
        # Secrets carry the time they were set: compare their names and values.
        return [
            (
                p,
                a,
                d,
                [(s["name"], s["value"]) for s in (json.loads(x) if isinstance(x, str) else x)],
            )
            for p, a, d, x in rows
        ]


class Pair:
    """Two server processes' worth of state (each its own app) on one database."""

    def __init__(self, tmp: Path, backend: str) -> None:
        if backend == "postgres":
            url = fresh_postgres("at_once")
        else:
            url = f"sqlite:///{tmp / 'shared.db'}"
        self.a = InProcessServer(make_settings(tmp / "a", "sqlite", database_url=url)).start()
        self.b = InProcessServer(make_settings(tmp / "b", "sqlite", database_url=url)).start()
        self.url = self.a.settings.effective_database_url

    def db(self) -> Db:
        return Db(self.url)

    def stop(self) -> None:
        self.a.stop()
        self.b.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    servers = Pair(tmp_path_factory.mktemp(f"at-once-{request.param}"), request.param)
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


def items_of(bindings: list[dict[str, Any]]) -> list[Any]:
    return UpdateBindingsIn.model_validate({"bindings": bindings}).bindings


def test_both_paths_answer_and_store_the_same(pair: Pair, seeded: dict[str, Any]) -> None:
    lookup = at_once.ActionLookup()  # kept across examples: hits, misses and stale entries
    limits = pair.a.state.limits

    async def both(items: list[Any], if_match: str) -> None:
        async with pair.db() as db:
            results = []
            for path in ("locked", "at once"):
                before = await db.revision()
                expected = {"none": None, "current": before, "stale": before - 1}[if_match]
                try:
                    if path == "locked":
                        steps = service.replace_bindings(
                            db.sql, TRIGGER, items, limits, expected_revision=expected
                        )
                        replaced: Any = await db.run(steps)
                    else:
                        replaced = await at_once.replace_bindings(
                            db.fetch, lookup, db.writer(), TRIGGER, items, limits,
                            expected_revision=expected,
                        )  # fmt: skip
                        assert replaced is not None  # nothing else writes: never given up
                except errors.DomainError as refused:
                    replaced = refused
                after = await db.revision()
                if isinstance(replaced, service.Replaced):
                    assert replaced.revision == after == before + 1
                else:
                    assert after == before  # refused: nothing written
                results.append((outcome(replaced), await db.stored()))
            assert results[0] == results[1]

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(refs(seeded), st.sampled_from(["none", "none", "current", "stale"]))
    def check(bindings: list[dict[str, Any]], if_match: str) -> None:
        asyncio.run(both(items_of(bindings), if_match))

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


def test_gives_up_without_writing_when_the_actions_keep_changing(
    pair: Pair, seeded: dict[str, Any]
) -> None:
    items = items_of([by_id(a["id"]) for a in seeded["deployed"]])
    limits = pair.a.state.limits

    async def scenario() -> None:
        async with pair.db() as db, pair.db() as other:
            reads = 0

            async def meddling_fetch(query: str, params: Any) -> list[dict[str, Any]]:
                """Moves the actions counter right after every read of the actions, as
                a busy tenant's deploys would."""
                nonlocal reads
                rows = await db.fetch(query, params)
                if "actions_counter" in query:
                    reads += 1
                    bump = "UPDATE counters SET value = value + 1 WHERE name = 'actions'"
                    await other.rows(bump)
                return rows

            before, listed = await db.revision(), await db.stored()
            lookup = at_once.ActionLookup()
            replaced = await at_once.replace_bindings(
                meddling_fetch, lookup, db.writer(), TRIGGER, items, limits
            )
            assert replaced is None
            assert reads == at_once.ATTEMPTS
            assert (await db.revision(), await db.stored()) == (before, listed)
            # The locked path the route then takes does it.
            done = await db.run(service.replace_bindings(db.sql, TRIGGER, items, limits))
            assert done.revision == before + 1
            assert [row[1] for row in await db.stored()] == [a["id"] for a in seeded["deployed"]]

    asyncio.run(scenario())


def test_concurrent_patches_of_one_trigger_are_written_together(
    pair: Pair, seeded: dict[str, Any]
) -> None:
    deployed = [a["id"] for a in seeded["deployed"]]
    lists = [[by_id(deployed[i % 4]), by_id(deployed[(i + 1) % 4])] for i in range(40)]
    if_match = [i for i in range(len(lists)) if i % 8 == 7]  # these say what they replace
    limits = pair.a.state.limits

    async def scenario() -> None:
        async with pair.db() as db:
            lookup, writer = at_once.ActionLookup(), db.writer()
            # One first, so that the others' actions are all looked up and rendered: they
            # reach the writer in one turn of the loop, while nothing is being written.
            every = items_of([by_id(action_id) for action_id in deployed])
            first = await at_once.replace_bindings(db.fetch, lookup, writer, TRIGGER, every, limits)
            assert first is not None
            first.render()  # and rendered once (no versions left to read)
            start = await db.revision()

            async def patch(index: int) -> Any:
                expected = start + index if index in if_match else None
                try:
                    return await at_once.replace_bindings(
                        db.fetch, lookup, writer, TRIGGER, items_of(lists[index]), limits,
                        expected_revision=expected,
                    )  # fmt: skip
                except errors.PreconditionFailed as refused:
                    return refused

            results = await asyncio.gather(*(patch(i) for i in range(len(lists))))
            written = {i: r for i, r in enumerate(results) if isinstance(r, service.Replaced)}
            refused = [i for i, r in enumerate(results) if not isinstance(r, service.Replaced)]
            assert set(refused) <= set(if_match)
            revisions = sorted(r.revision for r in written.values())
            assert revisions == list(range(start + 1, start + 1 + len(written)))
            assert await db.revision() == start + len(written)
            for index in set(if_match) & set(written):
                assert written[index].revision == start + index + 1
            # One swap for each run without If-Match, one for each If-Match (and the
            # first PATCH's own).
            runs = len([i for i in range(len(lists)) if i not in if_match and i - 1 in if_match])
            assert writer.swaps == 1 + (runs + 1) + len(if_match)
            last = max(written, key=lambda i: written[i].revision)
            assert [row[1] for row in await db.stored()] == [
                ref["ref"]["value"] for ref in lists[last]
            ]

    asyncio.run(scenario())


def test_the_route_takes_this_path(pair: Pair, seeded: dict[str, Any]) -> None:
    """Over HTTP, the usual PATCH fills the process's lookup."""
    ids = [a["id"] for a in seeded["deployed"][:2]]
    with pair.b.client() as api:
        assert patch_bindings(api, TRIGGER, [by_id(i) for i in ids]).status_code == 200
    assert pair.b.state.action_lookup.get(tuple(ids), ()) is not None


@pytest.mark.postgres
def test_bindings_table_is_vacuumed_every_so_many_replacements(tmp_path: Path) -> None:
    url = fresh_postgres("vacuum")
    InProcessServer(make_settings(tmp_path, "sqlite", database_url=url)).start().stop()

    async def scenario() -> int:
        vacuum = BindingsVacuum(url, every=3, interval=0)
        for _ in range(3):
            vacuum.replaced()
        await asyncio.sleep(0)
        await vacuum.aclose()  # waits for the running VACUUM
        for _ in range(2):
            vacuum.replaced()  # not due yet
        await vacuum.aclose()
        return vacuum.runs

    async def vacuumed() -> bool:
        async with Db(url) as db:
            query = "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'bindings'"
            return bool((await db.rows(query))[0][0] > 0)

    assert asyncio.run(scenario()) == 1
    assert asyncio.run(vacuumed())


def test_a_failed_swap_answers_every_patch_of_it(tmp_path: Path) -> None:
    """A database without the schema: the swap fails for real, every PATCH waiting on it
    gets the failure, and the next PATCH starts a swap of its own (nothing stuck)."""

    def plan() -> at_once.Planned:
        return at_once.Planned(rows=[], counter=0, expected_revision=None, now=0)

    async def scenario() -> None:
        async with Db(f"sqlite:///{tmp_path / 'empty.db'}") as db:
            writer = db.writer()
            five = [writer.write(TRIGGER, plan()) for _ in range(5)]
            results = await asyncio.wait_for(asyncio.gather(*five, return_exceptions=True), 5)
            assert all(isinstance(r, sqlite3.OperationalError) for r in results), results
            assert writer.swaps == 1
            with pytest.raises(sqlite3.OperationalError):
                await asyncio.wait_for(writer.write(TRIGGER, plan()), 5)
            assert writer.swaps == 2

    asyncio.run(scenario())


@pytest.mark.postgres
def test_an_interrupted_swap_fails_its_patches_cleanly(tmp_path: Path) -> None:
    """The writer's task cancelled (shutdown) while the database is busy with the swap:
    every waiting PATCH gets a 503, and later PATCHes are written normally."""
    url = fresh_postgres("interrupted")
    InProcessServer(make_settings(tmp_path, "sqlite", database_url=url)).start().stop()

    async def scenario() -> None:
        async with Db(url) as db:
            slow = True

            async def swap(trigger_id: str, last: at_once.Planned, count: int) -> int:
                nonlocal slow
                if slow:
                    slow = False
                    await db.rows("SELECT pg_sleep(30)")
                return await at_once.postgres_swap(lambda work: work(db.sql))(
                    trigger_id, last, count
                )

            writer = at_once.ListWriter(swap)
            waiting = [
                asyncio.ensure_future(writer.write(TRIGGER, at_once.Planned([], 0, None, 0)))
                for _ in range(3)
            ]
            await asyncio.sleep(0.2)  # the first swap is running, the others wait
            for task in list(writer._flushes):
                task.cancel()
            gathered = asyncio.gather(*waiting, return_exceptions=True)
            results = await asyncio.wait_for(gathered, 5)  # none left waiting
            assert all(isinstance(r, errors.ServiceUnavailable) for r in results), results
        async with Db(url) as db:  # the cancelled statement left that connection
            writer = at_once.ListWriter(at_once.postgres_swap(lambda work: work(db.sql)))
            counter = int(
                (await db.rows("SELECT value FROM counters WHERE name = 'actions'"))[0][0]
            )
            before = await db.revision()
            written = await writer.write(TRIGGER, at_once.Planned([], counter, None, 0))
            assert written == before + 1

    asyncio.run(scenario())
