"""The task life cycle on the human route, driven by the real openai SDK.

pending -> claimed -> answered | rejected | expired | cancelled, claimed -> pending
by release and by lease expiry; the audit trail (who, when) behind every step; the
dashboard events for each; two reviewers racing for one claim.
"""

from __future__ import annotations

import threading
import uuid

import openai
import pytest
from harness import run_gateway, wait_until
from openai.types.chat import ChatCompletion
from pydantic import TypeAdapter
from reviewer_client import EventLog, Reviewer, background

CONFIG = """
[human]
reattach_grace_s = 30

[models.human-quick]
route = "human"
timeout_s = 1
"""

SUMMARY_FIELDS = {
    "id", "status", "api", "model", "reason", "session", "created_at", "expires_at",
    "claimed_by", "answered_at", "answered_by",
}  # fmt: skip


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with run_gateway(tmp_path_factory.mktemp("lifecycle"), CONFIG) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def events(gateway):
    with EventLog(gateway.url) as log:
        yield log


def client(gateway, **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key="client-key", **options)


def ask(gateway, text: str, model: str = "human", **options):
    """Send one chat request on a thread; returns the future of the raw response."""
    return background(
        client(gateway, **options).chat.completions.with_raw_response.create,
        model=model,
        messages=[{"role": "user", "content": text}],
    )


def pending_task(reviewer: Reviewer, text: str) -> dict:
    return reviewer.wait_for_task(lambda task: task["preview"] == text)


def events_of(history: list[dict]) -> list[tuple[str, str | None]]:
    return [(entry["event"], entry["actor"]) for entry in history]


def test_claim_then_answer_is_audited_and_announced(gateway, events):
    alice = Reviewer(gateway.url, "alice")
    text = f"lifecycle {uuid.uuid4()}"
    reply = ask(gateway, text)
    task = pending_task(alice, text)
    created = events.wait_for("task.created", task["id"])
    assert created.keys() >= SUMMARY_FIELDS
    assert created["status"] == "pending" and "request" not in created

    claimed = alice.claim(task["id"])
    assert claimed.status == 200
    assert claimed.body["status"] == "claimed" and claimed.body["claimed_by"] == "alice"
    assert events.wait_for("task.claimed", task["id"])["claimed_by"] == "alice"
    assert alice.task(task["id"])["expires_at"] == task["expires_at"]

    assert alice.answer(task["id"], content="Done.").status == 200
    raw = reply.result(timeout=10)
    completion = TypeAdapter(ChatCompletion).validate_python(raw.http_response.json())
    assert completion.choices[0].message.content == "Done."

    answered = events.wait_for("task.answered", task["id"])
    assert answered["status"] == "answered" and answered["answered_by"] == "alice"
    full = alice.task(task["id"])
    assert full["status"] == "answered"
    assert full["answer"] == {"content": "Done."}
    history = full["history"]
    assert events_of(history) == [("created", None), ("claimed", "alice"), ("answered", "alice")]
    times = [entry["at"] for entry in history]
    assert times == sorted(times) and times[0] >= task["created_at"]
    assert events.names_for(task["id"]) == ["task.created", "task.claimed", "task.answered"]


def test_release_puts_the_task_back_for_another_reviewer(gateway, events):
    alice, bob = Reviewer(gateway.url, "alice"), Reviewer(gateway.url, "bob")
    text = f"release {uuid.uuid4()}"
    reply = ask(gateway, text)
    task = pending_task(alice, text)
    assert alice.claim(task["id"]).status == 200
    assert bob.release(task["id"]).status == 409  # only the holder may release
    released = alice.release(task["id"])
    assert released.status == 200
    assert released.body["status"] == "pending" and released.body["claimed_by"] is None
    assert events.wait_for("task.released", task["id"])["status"] == "pending"
    assert task["id"] in [t["id"] for t in alice.tasks("pending")]

    assert bob.claim(task["id"]).status == 200
    assert bob.answer(task["id"], content="bob here").status == 200
    assert reply.result(timeout=10).parse().choices[0].message.content == "bob here"
    history = alice.task(task["id"])["history"]
    assert events_of(history) == [
        ("created", None),
        ("claimed", "alice"),
        ("released", "alice"),
        ("claimed", "bob"),
        ("answered", "bob"),
    ]


def test_claim_by_the_holder_renews_and_others_get_409(gateway):
    alice, bob = Reviewer(gateway.url, "alice"), Reviewer(gateway.url, "bob")
    text = f"held {uuid.uuid4()}"
    reply = ask(gateway, text)
    task = pending_task(alice, text)
    first = alice.claim(task["id"])
    again = alice.claim(task["id"])
    assert first.status == again.status == 200
    assert alice.task(task["id"])["lease_until"] >= alice.task(task["id"])["claimed_at"]

    taken = bob.claim(task["id"])
    assert taken.status == 409 and taken.error["code"] == "task_claimed"
    assert "alice" in taken.error["message"]
    assert bob.answer(task["id"], content="mine").status == 409
    assert bob.reject(task["id"], "not yours").status == 409
    assert alice.answer(task["id"], content="alice's").status == 200
    assert reply.result(timeout=10).parse().choices[0].message.content == "alice's"
    # Only one claim entry: renewing is not a new claim.
    assert [e for e, _ in events_of(alice.task(task["id"])["history"])].count("claimed") == 1


def test_answering_an_unclaimed_task_claims_it(gateway):
    carol = Reviewer(gateway.url, "carol")
    text = f"direct {uuid.uuid4()}"
    reply = ask(gateway, text)
    task = pending_task(carol, text)
    assert carol.answer(task["id"], content="straight away").status == 200
    reply.result(timeout=10)
    full = carol.task(task["id"])
    assert full["claimed_by"] == "carol" and full["answered_by"] == "carol"


def test_two_reviewers_racing_for_a_claim_exactly_one_wins(gateway):
    texts = [f"race {i} {uuid.uuid4()}" for i in range(8)]
    replies = [ask(gateway, text) for text in texts]
    reviewers = [Reviewer(gateway.url, "alice"), Reviewer(gateway.url, "bob")]
    for text, reply in zip(texts, replies, strict=True):
        task = pending_task(reviewers[0], text)
        start = threading.Barrier(2)
        results: dict[str, int] = {}

        def race(reviewer: Reviewer, task_id: str = task["id"], start=start, results=results):
            start.wait(timeout=5)
            results[reviewer.name] = reviewer.claim(task_id).status

        threads = [threading.Thread(target=race, args=(r,)) for r in reviewers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert sorted(results.values()) == [200, 409], results
        winner = next(name for name, status in results.items() if status == 200)
        full = reviewers[0].task(task["id"])
        assert full["claimed_by"] == winner
        assert [e for e, _ in events_of(full["history"])].count("claimed") == 1
        winning = next(r for r in reviewers if r.name == winner)
        assert winning.answer(task["id"], content=f"won by {winner}").status == 200
        assert reply.result(timeout=10).parse().choices[0].message.content == f"won by {winner}"


def test_one_reviewer_claiming_twice_at_once_holds_it_both_times(gateway):
    """Two tabs of one reviewer (or a page's restore and a click) claim at once, and a
    reloading page's release crosses the new page's claim: the reviewer ends up
    holding the task and no claim is a 409 (the dashboard would show its own task
    read-only)."""
    texts = [f"twice {i} {uuid.uuid4()}" for i in range(8)]
    replies = [ask(gateway, text) for text in texts]
    alice = Reviewer(gateway.url, "alice")
    for turn, (text, reply) in enumerate(zip(texts, replies, strict=True)):
        task = pending_task(alice, text)
        if turn % 2:  # the reload: the old page's release and the new page's claim
            assert alice.claim(task["id"]).status == 200
            calls = [alice.release, alice.claim, alice.claim]
        else:  # two claims of a pending task
            calls = [alice.claim, alice.claim, alice.claim]
        start = threading.Barrier(len(calls))
        results: list[tuple[str, int, dict]] = []

        def act(call, task_id: str = task["id"], start=start, results=results) -> None:
            start.wait(timeout=5)
            reply = call(task_id)
            results.append((call.__name__, reply.status, reply.body))

        threads = [threading.Thread(target=act, args=(call,)) for call in calls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert [status for _, status, _ in results] == [200] * len(calls), results
        for name, _, body in results:
            if name == "claim":
                assert body["status"] == "claimed" and body["claimed_by"] == "alice", results
        assert alice.answer(task["id"], content="mine").status == 200
        assert reply.result(timeout=10).parse().choices[0].message.content == "mine"


def test_reject_gives_the_client_422_with_the_reason(gateway, events):
    alice = Reviewer(gateway.url, "alice")
    text = f"reject {uuid.uuid4()}"
    reply = ask(gateway, text)
    task = pending_task(alice, text)
    empty = alice.call("POST", f"/api/tasks/{task['id']}/reject", {"reason": "  "})
    assert empty.status == 422 and empty.error["param"] == "reason"
    assert alice.claim(task["id"]).status == 200  # claimed -> rejected, by the holder
    assert alice.reject(task["id"], "Not something an agent should do").status == 200

    with pytest.raises(openai.UnprocessableEntityError) as caught:
        reply.result(timeout=10)
    error = caught.value
    assert error.status_code == 422 and error.code == "human_rejected"
    assert "Not something an agent should do" in error.message
    assert error.response.headers["x-should-retry"] == "false"
    assert error.response.headers["x-gateway-task"] == task["id"]
    assert events.wait_for("task.rejected", task["id"])["status"] == "rejected"
    full = alice.task(task["id"])
    assert full["status"] == "rejected"
    assert events_of(full["history"])[:2] == [("created", None), ("claimed", "alice")]
    assert full["history"][-1]["event"] == "rejected"
    assert full["history"][-1]["actor"] == "alice"
    assert full["history"][-1]["detail"] == "Not something an agent should do"
    # The SDK did not resend: one task only.
    assert [t["preview"] for t in alice.tasks("pending,rejected")].count(text) == 1


def test_timeout_gives_504_and_expires_the_task(gateway, events):
    alice = Reviewer(gateway.url, "alice")
    text = f"timeout {uuid.uuid4()}"
    reply = ask(gateway, text, model="human-quick")
    task = pending_task(alice, text)
    with pytest.raises(openai.InternalServerError) as caught:
        reply.result(timeout=15)
    error = caught.value
    assert error.status_code == 504 and error.code == "human_timeout"
    assert error.response.headers["x-should-retry"] == "false"
    assert events.wait_for("task.expired", task["id"])["status"] == "expired"
    full = alice.task(task["id"])
    assert full["status"] == "expired"
    assert events_of(full["history"])[-1] == ("expired", "timeout")
    assert task["id"] not in [t["id"] for t in alice.tasks()]
    assert [t["preview"] for t in alice.tasks("pending,expired")].count(text) == 1


def test_finished_tasks_cannot_be_acted_on(gateway):
    alice, bob = Reviewer(gateway.url, "alice"), Reviewer(gateway.url, "bob")
    text = f"closed {uuid.uuid4()}"
    reply = ask(gateway, text)
    task = pending_task(alice, text)
    assert alice.answer(task["id"], content="first").status == 200
    reply.result(timeout=10)
    for reviewer in (alice, bob):
        for attempt in (
            reviewer.answer(task["id"], content="second"),
            reviewer.reject(task["id"], "too late"),
            reviewer.claim(task["id"]),
            reviewer.release(task["id"]),
        ):
            assert attempt.status == 409, attempt.body
            assert attempt.error["code"] == "task_not_open"
    assert alice.task(task["id"])["answer"] == {"content": "first"}

    missing = alice.claim("task_does_not_exist")
    assert missing.status == 404
    assert alice.answer("task_does_not_exist", content="x").status == 404
    assert alice.call("GET", "/api/tasks/task_does_not_exist").status == 404


def test_an_expired_lease_puts_the_task_back(tmp_path):
    config = "[human]\nlease_s = 0.5\n"
    with run_gateway(tmp_path, config) as gateway, EventLog(gateway.url) as log:
        alice, bob = Reviewer(gateway.url, "alice"), Reviewer(gateway.url, "bob")
        text = f"lease {uuid.uuid4()}"
        reply = ask(gateway, text)
        task = pending_task(alice, text)
        assert alice.claim(task["id"]).status == 200
        assert bob.claim(task["id"]).status == 409
        released = log.wait_for("task.released", task["id"])
        assert released["status"] == "pending" and released["claimed_by"] is None
        history = alice.task(task["id"])["history"]
        assert events_of(history) == [
            ("created", None),
            ("claimed", "alice"),
            ("released", "lease"),
        ]
        assert bob.claim(task["id"]).status == 200
        assert bob.answer(task["id"], content="after the lease").status == 200
        assert reply.result(timeout=10).parse().choices[0].message.content == "after the lease"


def test_reviewer_tokens_name_the_reviewer(tmp_path):
    config = '[auth.reviewer_tokens]\ndana = "dana-token"\nerin = "erin-token"\n'
    with run_gateway(tmp_path, config) as gateway:
        dana = Reviewer(gateway.url, "someone-else", token="dana-token")
        erin = Reviewer(gateway.url, "dana", token="erin-token")
        nobody = Reviewer(gateway.url, "dana")
        text = f"tokens {uuid.uuid4()}"
        reply = ask(gateway, text)
        task = pending_task(dana, text)
        assert nobody.call("GET", "/api/tasks").status == 401
        assert nobody.claim(task["id"]).status == 401
        claimed = dana.claim(task["id"])
        assert claimed.status == 200 and claimed.body["claimed_by"] == "dana"
        # The X-Reviewer header cannot impersonate the holder: the token decides.
        assert erin.answer(task["id"], content="erin").status == 409
        assert dana.answer(task["id"], content="dana").status == 200
        assert reply.result(timeout=10).parse().choices[0].message.content == "dana"
        history = dana.task(task["id"])["history"]
        assert events_of(history)[1:] == [("claimed", "dana"), ("answered", "dana")]


def test_restart_keeps_tasks_and_their_audit_trail(tmp_path):
    with run_gateway(tmp_path, "[human]\nreattach_grace_s = 2\n") as gateway:
        alice = Reviewer(gateway.url, "alice")
        text = f"persist {uuid.uuid4()}"
        reply = ask(gateway, text, max_retries=0)
        task = pending_task(alice, text)
        assert alice.claim(task["id"]).status == 200
        gateway.kill()
        with pytest.raises(openai.APIConnectionError):
            reply.result(timeout=10)
        gateway.start()
        full = alice.task(task["id"])
        assert full["status"] == "claimed" and full["claimed_by"] == "alice"
        assert full["request"]["messages"] == [{"role": "user", "content": text}]
        assert events_of(full["history"]) == [("created", None), ("claimed", "alice")]
        # Nobody came back for it: after the grace period it leaves the queue.
        wait_until(lambda: alice.task(task["id"])["status"] == "cancelled", 20, what="cancel")
        assert events_of(alice.task(task["id"])["history"])[-1] == ("cancelled", "client")
