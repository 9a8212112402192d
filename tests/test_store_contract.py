"""The store's contract, on every backend: SQLite and a real PostgreSQL server.

Every conditional transition races against itself and exactly one call wins.
On PostgreSQL the racers are spread over two store objects (two connection
pools, as two gateway processes would have) on one database.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid

import pytest

from gateway.human.store import (
    EXPIRY,
    GONE,
    LEASE,
    AuditEntry,
    Change,
    Due,
    Expected,
    StoredResponse,
    StoreUnavailable,
)
from gateway.human.task import ANSWERED, CANCELLED, CLAIMED, EXPIRED, OPEN, PENDING, Task
from gateway.store.migrations import migrations
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SQLiteStore

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
async def stores(request, tmp_path):
    """Two stores on one database: one object for SQLite (one process), two for PostgreSQL."""
    if request.param == "sqlite":
        store = SQLiteStore(tmp_path / "store.db")
        await store.open()
        yield [store, store]
        await store.close()
        return
    url = request.getfixturevalue("postgres_cluster").create_database()
    pair = [PostgresStore(url), PostgresStore(url)]
    for store in pair:
        await store.open()
    yield pair
    for store in pair:
        await store.close()


@pytest.fixture
def store(stores):
    return stores[0]


def new_task(dedup: str | None = None, **changes) -> Task:
    now = time.time()
    values = dict(
        id="task_" + uuid.uuid4().hex[:16],
        status=PENDING,
        api="chat.completions",
        model="human",
        reason="human_route",
        session="s",
        created_at=now,
        expires_at=now + 60,
        dedup=dedup or uuid.uuid4().hex,
        owner="o",
        clients=1,
    )
    return Task(**{**values, **changes})


def entry(task_id: str, event: str, actor: str | None = None) -> AuditEntry:
    return AuditEntry(task_id, time.time(), event, actor)


async def made(store, **changes) -> Task:
    task = new_task(**changes)
    task, created = await store.create(task, b'{"messages": []}', entry(task.id, "created"))
    assert created
    return task


async def race(calls) -> list:
    return await asyncio.gather(*calls)


def claim(store, task_id: str, reviewer: str):
    now = time.time()
    return store.transition(
        task_id,
        Expected(OPEN, holder=reviewer),
        {"status": CLAIMED, "claimed_by": reviewer, "claimed_at": now, "lease_until": now + 60},
        entry(task_id, "claimed", reviewer),
        "task.claimed",
    )


def answer(store, task_id: str, reviewer: str):
    now = time.time()
    return store.transition(
        task_id,
        Expected(OPEN, holder=reviewer),
        {
            "status": ANSWERED,
            "answered_by": reviewer,
            "answered_at": now,
            "finished_at": now,
            "answer": {"content": reviewer},
        },
        entry(task_id, "answered", reviewer),
        "task.answered",
    )


async def test_every_task_field_round_trips(store):
    task = new_task(
        stream=True, preview="p", prompt_tokens=7, claimed_by="a", claimed_at=1.5,
        lease_until=2.5, gone_at=3.5, answered_at=4.5, answered_by="a", finished_at=5.5,
        answer={"content": "hi", "n": [1, 2]}, result={"id": "x"}, delivered=False,
        reject_reason="r", draft={"content": "d"}, confidence=0.25, response_id="resp_1",
        tools=[{"type": "function", "function": {"name": "f"}}], tool_choice="auto",
        kind="tools", step=3, follows="task_0", n=2,
        output_format={"type": "json_schema", "schema": {"type": "object"}},
    )  # fmt: skip
    stored, created = await store.create(task, b"{}", entry(task.id, "created"))
    assert created and stored == task
    assert await store.get(task.id) == task


async def test_create_is_unique_per_dedup_among_open_tasks(stores):
    first = await made(stores[0], dedup="same")
    again, created = await stores[1].create(new_task("same"), b"{}", entry("y", "created"))
    assert not created and again.id == first.id
    await answer(stores[0], first.id, "alice")
    after, created = await stores[1].create(new_task("same"), b"{}", entry("z", "created"))
    assert created and after.id != first.id


async def test_creating_races_against_itself(stores):
    outcomes = await race(
        stores[i % 2].create(new_task("raced"), b"{}", entry(f"t{i}", "created")) for i in range(12)
    )
    assert sum(created for _, created in outcomes) == 1
    assert len({task.id for task, _ in outcomes}) == 1
    assert len(await stores[0].list(OPEN)) == 1


async def test_claiming_races_against_itself(stores):
    task = await made(stores[0])
    won = await race(claim(stores[i % 2], task.id, f"r{i}") for i in range(8))
    winners = [t for t in won if t is not None]
    assert len(winners) == 1 and winners[0].status == CLAIMED
    stored = await stores[1].get(task.id)
    assert stored.claimed_by == winners[0].claimed_by
    events = [e.event for e in await stores[0].audit(task.id)]
    assert events == ["created", "claimed"]


async def test_a_holder_renews_and_others_cannot(store):
    task = await made(store)
    assert await claim(store, task.id, "alice") is not None
    assert await claim(store, task.id, "alice") is not None  # the holder renews
    assert await claim(store, task.id, "bob") is None
    assert await answer(store, task.id, "bob") is None
    assert (await answer(store, task.id, "alice")).status == ANSWERED


async def test_answering_races_against_itself(stores):
    task = await made(stores[0])
    won = await race(answer(stores[i % 2], task.id, f"r{i}") for i in range(8))
    winners = [t for t in won if t is not None]
    assert len(winners) == 1
    stored = await stores[0].get(task.id)
    assert stored.answer == {"content": winners[0].answered_by}


@pytest.mark.parametrize("deadline", [EXPIRY, LEASE, GONE])
async def test_each_deadline_is_acted_on_exactly_once(stores, deadline):
    past = time.time() - 1
    task = await made(stores[0], expires_at=past if deadline == EXPIRY else time.time() + 60)
    if deadline == LEASE:
        await stores[0].transition(
            task.id, Expected(OPEN), {"status": CLAIMED, "lease_until": past}
        )
    if deadline == GONE:
        await stores[0].detach(task.id, past)
    assert Due(task.id, deadline) in await stores[1].due(time.time())
    status = {EXPIRY: EXPIRED, LEASE: PENDING, GONE: CANCELLED}[deadline]
    changes = {"status": status, "lease_until": None}
    guard = Expected(OPEN, due=deadline, now=time.time(), unattached=deadline == GONE)
    won = await race(stores[i % 2].transition(task.id, guard, changes) for i in range(8))
    assert sum(t is not None for t in won) == 1
    assert (await stores[0].get(task.id)).status == status
    assert Due(task.id, deadline) not in await stores[0].due(time.time())


async def test_a_deadline_not_yet_due_is_not_acted_on(store):
    task = await made(store)
    guard = Expected(OPEN, due=EXPIRY, now=time.time())
    assert await store.transition(task.id, guard, {"status": EXPIRED}) is None
    assert await store.due(time.time()) == []


async def test_clients_attach_and_detach_across_processes(stores):
    task = await made(stores[0])
    assert (await stores[1].attach(task.id)).clients == 2
    gone = time.time() + 5
    assert (await stores[0].detach(task.id, gone)).gone_at is None  # one still waits
    left = await stores[1].detach(task.id, gone)
    assert left.clients == 0 and left.gone_at == gone
    back = await stores[0].attach(task.id)
    assert back.clients == 1 and back.gone_at is None
    guard = Expected(OPEN, due=GONE, now=gone + 1, unattached=True)
    assert await stores[1].transition(task.id, guard, {"status": CANCELLED}) is None


async def test_delivering_races_against_itself(stores):
    task = await made(stores[0])
    await answer(stores[0], task.id, "alice")
    guard = Expected((ANSWERED,), undelivered=True)
    won = await race(
        stores[i % 2].transition(task.id, guard, {"delivered": True}) for i in range(6)
    )
    assert sum(t is not None for t in won) == 1


async def test_find_prefers_the_open_task_then_an_undelivered_outcome(stores):
    task = await made(stores[0], dedup="retry")
    assert (await stores[1].find("retry", 0)).id == task.id
    await answer(stores[0], task.id, "alice")
    assert (await stores[1].find("retry", time.time() - 60)).status == ANSWERED
    assert await stores[1].find("retry", time.time() + 60) is None  # kept too long ago
    await stores[0].transition(task.id, Expected((ANSWERED,)), {"delivered": True})
    assert await stores[1].find("retry", 0) is None


async def test_listeners_hear_changes_from_this_and_other_processes(stores):
    heard: list[list[Change]] = [[], []]
    stores[0].listen(heard[0].append)
    if stores[1] is not stores[0]:
        stores[1].listen(heard[1].append)
    task = await made(stores[0])
    await claim(stores[0], task.id, "alice")
    assert [(c.task_id, c.event) for c in heard[0]] == [
        (task.id, "task.created"),
        (task.id, "task.claimed"),
    ]
    assert heard[0][1].task.claimed_by == "alice"  # this process has the row in hand
    if stores[1] is not stores[0]:
        deadline = time.monotonic() + 5
        while len(heard[1]) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert [(c.task_id, c.event, c.task) for c in heard[1]] == [
            (task.id, "task.created", None),
            (task.id, "task.claimed", None),
        ]


async def test_reads(store):
    task = await made(store, model="m1", session="sess")
    assert await store.request(task.id) == b'{"messages": []}'
    assert [t.id for t in await store.list(OPEN, model="m1")] == [task.id]
    assert await store.list(OPEN, model="m2") == []
    assert await store.finished_among([task.id, "nope"]) == []
    await answer(store, task.id, "alice")
    assert [t.id for t in await store.finished_among([task.id, "nope"])] == [task.id]
    assert [t.id for t in await store.answered_after(0)] == [task.id]
    stats = await store.stats(0)
    assert stats["counts"] == {ANSWERED: 1} and len(stats["answer_seconds"]) == 1


async def test_responses(stores):
    response = StoredResponse("resp_1", "task_1", "owner", "sess", b'{"id": "resp_1"}', [{"a": 1}])
    await stores[0].put_response(response)
    assert await stores[1].get_response("resp_1") == response
    assert await stores[1].get_response("resp_2") is None
    assert await stores[1].delete_response("resp_1")
    assert not await stores[0].delete_response("resp_1")
    assert await stores[0].get_response("resp_1") is None


async def test_forwarded_response_owners_are_shared_and_expire(stores):
    now = time.time()
    await stores[0].put_forwarded("resp_up_1", "client-a", now + 60)
    await stores[0].put_forwarded("resp_up_old", "client-a", now - 1)
    assert await stores[1].forwarded_owner("resp_up_1", now) == "client-a"
    assert await stores[1].forwarded_owner("resp_up_old", now) is None  # expired
    assert await stores[1].forwarded_owner("resp_never", now) is None
    assert await stores[1].forwarded_owner("resp_up_1", now + 61) is None
    await stores[1].put_forwarded("resp_up_2", "client-b", now + 60)  # drops expired rows
    await stores[1].delete_forwarded("resp_up_1")
    assert await stores[0].forwarded_owner("resp_up_1", now) is None
    assert await stores[0].forwarded_owner("resp_up_2", now) == "client-b"


async def test_the_first_fingerprint_wins_across_processes(stores):
    won = await asyncio.gather(*(store.fingerprint(f"fp-{i}") for i, store in enumerate(stores)))
    assert won[0] == won[1] and won[0] in ("fp-0", "fp-1")
    assert await stores[1].fingerprint("fp-later") == won[0]


async def test_reviewer_sessions_are_shared_and_expire(stores):
    now = time.time()
    await stores[0].open_session("key", "alice", now)
    assert await stores[1].touch_session("key", now + 10, idle_s=60) == "alice"
    assert await stores[0].touch_session("key", now + 65, idle_s=60) == "alice"  # renewed at +10
    assert await stores[1].touch_session("key", now + 200, idle_s=60) is None
    assert await stores[0].touch_session("key", now + 201, idle_s=1000) is None  # deleted
    await stores[0].open_session("other", "bob", now)
    await stores[1].close_session("other")
    assert await stores[0].touch_session("other", now, idle_s=60) is None


async def test_counters_add_up_across_processes(stores):
    await stores[0].add_counts("hybrid", {("m", 100): 2, ("n", 101): 1})
    await stores[1].add_counts("hybrid", {("m", 100): 3, ("m", 102): 1})
    assert await stores[0].counts_since("hybrid", 100) == {"m": 6, "n": 1}
    assert await stores[1].counts_since("hybrid", 101) == {"m": 1, "n": 1}


# -- schema versions ----------------------------------------------------------------------

# The SQLite schema of the last release without numbered migrations, as it made files.
OLD_COLUMNS = [
    "id", "status", "api", "model", "reason", "session", "created_at", "expires_at", "dedup",
    "owner", "stream", "preview", "prompt_tokens", "claimed_by", "claimed_at", "lease_until",
    "answered_at", "answered_by", "finished_at", "answer", "result", "delivered",
    "reject_reason", "draft", "confidence", "response_id", "tools", "tool_choice",
]  # fmt: skip
OLD_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS tasks (
    {", ".join(f"{name} {'TEXT PRIMARY KEY' if name == 'id' else ''}" for name in OLD_COLUMNS)}
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status, created_at);
CREATE INDEX IF NOT EXISTS tasks_dedup ON tasks (dedup);
CREATE TABLE IF NOT EXISTS requests (task_id TEXT PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    task_id TEXT NOT NULL, at REAL NOT NULL, event TEXT NOT NULL, actor TEXT, detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_task ON audit (task_id, at);
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY, task_id TEXT, owner TEXT, session TEXT,
    body BLOB NOT NULL, input BLOB NOT NULL, created_at REAL NOT NULL
);
"""


def old_file(path, with_steps: bool) -> None:
    """A file as the gateway made it before migrations: one open task, one answered.

    ``with_steps``: as the version that added a task's kind, step and follows by
    adding any missing column at start-up."""
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    if with_steps:
        for name in ("kind", "step", "follows"):
            db.execute(f"ALTER TABLE tasks ADD COLUMN {name}")
    now = time.time()
    for task_id, status, answer_json in (
        ("task_old_open", "pending", None),
        ("task_old_done", "answered", b'{"content": "kept"}'),
    ):
        row = {name: None for name in OLD_COLUMNS}
        row.update(id=task_id, status=status, api="chat.completions", model="human",
                   reason="human_route", session="s", created_at=now, expires_at=now + 600,
                   dedup=task_id, owner="o", stream=0, preview="old", prompt_tokens=3,
                   delivered=0, answer=answer_json, tools=b"[]")  # fmt: skip
        db.execute(f"INSERT INTO tasks ({', '.join(OLD_COLUMNS)}) "
                   f"VALUES ({', '.join('?' for _ in OLD_COLUMNS)})",
                   [row[name] for name in OLD_COLUMNS])  # fmt: skip
        db.execute("INSERT INTO requests VALUES (?, ?)", (task_id, b'{"messages": []}'))
        db.execute("INSERT INTO audit VALUES (?, ?, 'created', NULL, NULL)", (task_id, now))
    db.commit()
    db.close()


@pytest.mark.parametrize("with_steps", [False, True])
async def test_an_sqlite_file_from_before_migrations_keeps_its_tasks(tmp_path, with_steps):
    path = tmp_path / "old.db"
    old_file(path, with_steps)
    for _ in range(2):  # upgrading, then opening an upgraded file
        store = SQLiteStore(path)
        await store.open()
        kept = await store.get("task_old_done")
        assert kept.status == ANSWERED and kept.answer == {"content": "kept"}
        pending = await store.get("task_old_open")
        assert pending.status == PENDING and pending.clients == 0 and pending.tools == []
        assert (pending.kind, pending.step, pending.follows) == ("text", 1, None)
        assert next(e.event for e in await store.audit("task_old_open")) == "created"
        assert (await claim(store, "task_old_open", "alice")).claimed_by == "alice"
        await store.transition("task_old_open", Expected(OPEN), {"status": PENDING})
        await store.close()
    db = sqlite3.connect(path)
    versions = [row[0] for row in db.execute("SELECT version FROM schema_migrations")]
    db.close()
    assert versions == [m.version for m in migrations("sqlite")]  # every migration, once


async def test_postgres_migrations_are_recorded_once(postgres_cluster):
    url = postgres_cluster.create_database()
    first, second = PostgresStore(url), PostgresStore(url)
    await asyncio.gather(first.open(), second.open())  # two processes starting together
    try:
        rows = await first.pool.call(
            lambda conn: conn.fetch("SELECT version FROM schema_migrations")
        )
        versions = [row[0] for row in rows]
        assert versions == [m.version for m in migrations("sqlite")]  # every migration, once
    finally:
        await first.close()
        await second.close()


# -- failures -------------------------------------------------------------------------------


async def test_a_locked_sqlite_file_is_unavailable_and_nothing_changes(tmp_path):
    store = SQLiteStore(tmp_path / "store.db", busy_timeout_ms=50)
    await store.open()
    task = await made(store)
    other = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(StoreUnavailable) as raised:
        await claim(store, task.id, "alice")
    assert raised.value.status == 503 and raised.value.code == "store_unavailable"
    with pytest.raises(StoreUnavailable):
        await store.create(new_task(), b"{}", entry("t", "created"))
    other.execute("ROLLBACK")
    other.close()
    assert (await store.get(task.id)).status == PENDING
    assert len(await store.list(OPEN)) == 1
    assert (await claim(store, task.id, "alice")).claimed_by == "alice"
    await store.close()


async def test_a_stopped_postgres_server_is_unavailable_until_it_is_back(postgres_cluster):
    from postgres import Cluster

    cluster = Cluster().init()
    try:
        store = PostgresStore(cluster.url())
        await store.open()
        task = await made(store)
        cluster.stop("immediate")
        assert not await store.ping()
        with pytest.raises(StoreUnavailable):
            await claim(store, task.id, "alice")
        with pytest.raises(StoreUnavailable):
            await store.create(new_task(), b"{}", entry("t", "created"))
        cluster.start()
        assert (await claim(store, task.id, "alice")).claimed_by == "alice"
        assert await store.ping()
        assert len(await store.list(OPEN)) == 1
        await store.close()
    finally:
        cluster.destroy()


# -- configuration --------------------------------------------------------------------------


def test_the_store_url_selects_the_backend(tmp_path):
    from gateway.config import ConfigError, StoreConfig, load_config
    from gateway.store.backends import store_for

    assert isinstance(store_for(StoreConfig(path=str(tmp_path / "a.db"))), SQLiteStore)
    sqlite_url = StoreConfig(url=f"sqlite:///{tmp_path}/b.db")
    assert sqlite_url.sqlite_path == f"{tmp_path}/b.db"
    assert isinstance(store_for(sqlite_url), SQLiteStore)
    config = tmp_path / "gateway.toml"
    config.write_text('[store]\nurl = "postgresql://gw:${PGPASS}@db:5432/hitl"\n')
    loaded = load_config(config, env={"PGPASS": "s3cret"}).store
    assert loaded.url == "postgresql://gw:s3cret@db:5432/hitl"
    assert isinstance(store_for(loaded), PostgresStore)
    config.write_text('[store]\nurl = "mysql://db/hitl"\n')
    with pytest.raises(ConfigError, match=r"store\.url: .*postgresql://"):
        load_config(config)


async def test_a_silent_process_is_buried_once_and_its_clients_leave(stores):
    first, second = stores
    if first is second:  # one process: a restart forgets every client at once
        task = await made(first)
        await first.forget_clients(123.0)
        forgotten = await first.get(task.id)
        assert (forgotten.clients, forgotten.gone_at) == (0, 123.0)
        return
    now = time.time()
    assert not await first.heartbeat(now)  # new to the store
    assert await first.heartbeat(now)
    await second.heartbeat(now)
    shared = await made(first)  # a client on each process
    await second.attach(shared.id)
    alone = await made(first)  # a client on the first only
    await second.heartbeat(now + 10)  # the first falls silent
    buried = await race([second.bury(now + 10, 5, now + 20), second.bury(now + 10, 5, now + 20)])
    assert sorted(buried) == [0, 1]
    kept = await second.get(shared.id)
    assert (kept.clients, kept.gone_at) == (1, None)
    left = await second.get(alone.id)
    assert (left.clients, left.gone_at) == (0, now + 20)
    assert not await first.heartbeat(now + 11)  # buried: it must attach its clients again
