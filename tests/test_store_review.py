"""The store's review operations, on SQLite and a real PostgreSQL server: grades (once per
reviewer, racing, finishing the task at ``reviews``), group visibility, the escalation deadline."""

from __future__ import annotations

import time

import test_store_contract as contract
from test_store_contract import claim, entry, made, race

from gateway.human.grades import Grade
from gateway.human.store import ESCALATE, Due, Expected
from gateway.human.task import ANSWERED, CLAIMED, OPEN, PENDING

# The contract's fixtures: each backend, and two stores (processes) on one database.
stores = contract.stores
store = contract.store


def grade_of(task_id: str, reviewer: str, verdict: str = "good", **scores) -> Grade:
    return Grade(task_id, reviewer, verdict, scores, None, None, time.time())


async def test_review_fields_round_trip(store):
    task = await made(
        store, groups=("legal", "support"), escalate_at=12.5, escalate_to=("oncall",),
        rubric="r", reviews=3, graded=0, kind="grade",
    )  # fmt: skip
    got = await store.get(task.id)
    assert (got.groups, got.escalate_at, got.escalate_to, got.rubric, got.reviews) == (
        ("legal", "support"),
        12.5,
        ("oncall",),
        "r",
        3,
    )


async def test_each_reviewer_grades_once_and_the_last_grade_finishes_the_task(stores):
    task = await made(stores[0], kind="grade", reviews=2, clients=0)
    first = await stores[0].grade(grade_of(task.id, "ann", tone=3), entry(task.id, "graded", "ann"))
    assert first.added and first.task.status == PENDING and first.task.graded == 1
    again = await stores[1].grade(grade_of(task.id, "ann"), entry(task.id, "graded", "ann"))
    assert not again.added and again.task.graded == 1
    second = await stores[1].grade(grade_of(task.id, "bob", "bad"), entry(task.id, "graded", "bob"))
    assert second.added and second.task.status == ANSWERED and second.task.answered_by == "bob"
    late = await stores[0].grade(grade_of(task.id, "cid"), entry(task.id, "graded", "cid"))
    assert not late.added and late.task.status == ANSWERED
    grades = (await stores[0].grades([task.id]))[task.id]
    assert [(g.reviewer, g.verdict, g.scores) for g in grades] == [
        ("ann", "good", {"tone": 3}),
        ("bob", "bad", {}),
    ]
    assert [g.reviewer for _, _, g in await stores[1].grades_since(0)] == ["bob", "ann"]
    assert [g.reviewer for _, _, g in await stores[1].grades_since(0, limit=1)] == ["bob"]
    assert not (await stores[0].grade(grade_of("task_nope", "ann"), entry("x", "g"))).task


async def test_graders_racing_on_the_last_place_count_once_each(stores):
    task = await made(stores[0], kind="grade", reviews=3, clients=0)
    names = [f"r{i}" for i in range(8)]
    results = await race(
        stores[i % 2].grade(grade_of(task.id, name), entry(task.id, "graded", name))
        for i, name in enumerate(names)
    )
    assert sum(result.added for result in results) == 3
    final = await stores[0].get(task.id)
    assert (final.status, final.graded) == (ANSWERED, 3)
    assert len((await stores[1].grades([task.id]))[task.id]) == 3


async def test_a_graders_claim_is_let_go_for_the_next_reviewer(store):
    task = await made(store, kind="grade", reviews=2, clients=0)
    assert (await claim(store, task.id, "ann")).status == CLAIMED
    graded = await store.grade(grade_of(task.id, "ann"), entry(task.id, "graded", "ann"))
    assert (graded.task.status, graded.task.claimed_by) == (PENDING, None)


async def test_listing_keeps_only_the_groups_tasks(store):
    everyone = await made(store)
    legal = await made(store, groups=("legal",))
    both = await made(store, groups=("legal", "on_call"))
    # "_" is a LIKE wildcard: a group "onXcall" must not match "on_call".
    odd = await made(store, groups=("onXcall",))

    async def seen(groups):
        return {t.id for t in await store.list(OPEN, groups=groups)}

    assert await seen(None) == {everyone.id, legal.id, both.id, odd.id}
    assert await seen(frozenset({"legal"})) == {everyone.id, legal.id, both.id}
    assert await seen(frozenset({"on_call"})) == {everyone.id, both.id}
    assert await seen(frozenset()) == {everyone.id}


async def test_the_escalation_deadline_fires_once_and_only_while_pending(stores):
    past = time.time() - 1
    task = await made(stores[0], groups=("legal",), escalate_at=past, escalate_to=("oncall",))
    claimed = await made(stores[0], groups=("legal",), escalate_at=past, escalate_to=("oncall",))
    await claim(stores[0], claimed.id, "ann")
    due = await stores[1].due(time.time())
    assert Due(task.id, ESCALATE) in due and Due(claimed.id, ESCALATE) not in due
    changes = {"groups": ("legal", "oncall"), "escalate_at": None}
    guard = Expected((PENDING,), due=ESCALATE, now=time.time())
    won = await race(stores[i % 2].transition(task.id, guard, changes) for i in range(8))
    assert sum(t is not None for t in won) == 1
    assert (await stores[0].get(task.id)).groups == ("legal", "oncall")
    assert Due(task.id, ESCALATE) not in await stores[0].due(time.time())
