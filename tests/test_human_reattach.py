"""Clients that go away and come back: re-attach, restarts, disconnects, many waiters.

The openai SDK retries a request after a read timeout or a connection error with
the same body; the gateway must find the task the first attempt made, deliver an
answer given while nobody was connected, and cancel tasks whose client is gone.
"""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import openai
import pytest
from harness import run_gateway, wait_until
from reviewer_client import AsyncReviewer, EventLog, Reviewer, background

LONG_GRACE = "[human]\nreattach_grace_s = 60\n"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with run_gateway(tmp_path_factory.mktemp("reattach"), LONG_GRACE) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def short_grace(tmp_path_factory):
    config = "[human]\nreattach_grace_s = 0.3\nkeepalive_s = 0.1\n"
    with run_gateway(tmp_path_factory.mktemp("grace"), config) as gateway:
        yield gateway


def messages(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def tasks_for(reviewer: Reviewer, text: str) -> list[dict]:
    every = "pending,claimed,answered,rejected,expired,cancelled"
    return [task for task in reviewer.tasks(every) if task["preview"] == text]


def test_the_sdk_retry_after_a_read_timeout_reattaches(gateway):
    text = f"retry {uuid.uuid4()}"
    reviewer = Reviewer(gateway.url)
    attempts: list[str] = []
    http_client = openai.DefaultHttpxClient(
        event_hooks={"request": [lambda r: attempts.append(r.headers["x-stainless-retry-count"])]}
    )
    client = openai.OpenAI(
        base_url=gateway.base_url, api_key="k", timeout=0.5, max_retries=3, http_client=http_client
    )
    reply = background(
        client.chat.completions.with_raw_response.create, model="human", messages=messages(text)
    )
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    wait_until(lambda: "1" in attempts, 10, what="the SDK's first retry")
    assert reviewer.answer(task["id"], content="worth the wait").status == 200
    raw = reply.result(timeout=10)
    assert raw.parse().choices[0].message.content == "worth the wait"
    assert raw.headers["x-gateway-task"] == task["id"]
    assert int(raw.http_request.headers["x-stainless-retry-count"]) >= 1
    assert [t["id"] for t in tasks_for(reviewer, text)] == [task["id"]]
    history = [entry["event"] for entry in reviewer.task(task["id"])["history"]]
    assert history == ["created", "answered"]


@pytest.mark.parametrize("outcome", ["answered", "rejected"])
def test_an_outcome_given_while_away_reaches_the_retry_at_once(gateway, outcome):
    text = f"away {outcome} {uuid.uuid4()}"
    reviewer = Reviewer(gateway.url)
    impatient = openai.OpenAI(base_url=gateway.base_url, api_key="k", timeout=0.3, max_retries=0)
    reply = background(impatient.chat.completions.create, model="human", messages=messages(text))
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    with pytest.raises(openai.APITimeoutError):
        reply.result(timeout=10)
    if outcome == "answered":
        assert reviewer.answer(task["id"], content="while you were out").status == 200
    else:
        assert reviewer.reject(task["id"], "declined while you were out").status == 200

    client = openai.OpenAI(base_url=gateway.base_url, api_key="k", timeout=5, max_retries=0)
    retry = client.chat.completions.with_raw_response
    if outcome == "answered":
        raw = retry.create(model="human", messages=messages(text))
        assert raw.headers["x-gateway-task"] == task["id"]
        assert raw.parse().choices[0].message.content == "while you were out"
    else:
        with pytest.raises(openai.UnprocessableEntityError) as caught:
            retry.create(model="human", messages=messages(text))
        assert caught.value.code == "human_rejected"
        assert "declined while you were out" in caught.value.message
    assert [t["id"] for t in tasks_for(reviewer, text)] == [task["id"]]

    # Delivered once: the same request again is a new question, a new task.
    again = background(retry.create, model="human", messages=messages(text))
    fresh = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert fresh["id"] != task["id"]
    assert reviewer.answer(fresh["id"], content="a new answer").status == 200
    assert again.result(timeout=10).parse().choices[0].message.content == "a new answer"


def test_a_client_that_leaves_has_its_task_cancelled(short_grace):
    text = f"gone {uuid.uuid4()}"
    reviewer = Reviewer(short_grace.url)
    client = openai.OpenAI(base_url=short_grace.base_url, api_key="k", timeout=0.3, max_retries=0)
    with EventLog(short_grace.url) as events:
        reply = background(client.chat.completions.create, model="human", messages=messages(text))
        task = reviewer.wait_for_task(lambda t: t["preview"] == text)
        with pytest.raises(openai.APITimeoutError):
            reply.result(timeout=10)
        cancelled = events.wait_for("task.cancelled", task["id"])
    assert cancelled["status"] == "cancelled"
    full = reviewer.task(task["id"])
    assert full["status"] == "cancelled"
    assert (full["history"][-1]["event"], full["history"][-1]["actor"]) == ("cancelled", "client")
    assert task["id"] not in [t["id"] for t in reviewer.tasks()]
    late = reviewer.answer(task["id"], content="too late")
    assert late.status == 409 and late.error["code"] == "task_not_open"


async def test_a_streaming_client_that_leaves_has_its_task_cancelled(short_grace):
    text = f"stream gone {uuid.uuid4()}"
    body = {"model": "human", "messages": messages(text), "stream": True}
    async with AsyncReviewer(short_grace.url) as reviewer:
        async with (
            aiohttp.ClientSession() as session,
            session.post(short_grace.base_url + "/chat/completions", json=body) as reply,
        ):
            assert await reply.content.readuntil(b"\n\n") == b": keep-alive\n\n"
            task = await reviewer.wait_for_task(lambda t: t["preview"] == text)
        # The connection is closed: nobody comes back within the grace period.
        deadline = asyncio.get_running_loop().time() + 10
        while (await reviewer.task(task["id"]))["status"] != "cancelled":
            assert asyncio.get_running_loop().time() < deadline, "task was not cancelled"
            await asyncio.sleep(0.02)


def test_a_restart_while_a_client_waits_loses_nothing(tmp_path):
    with run_gateway(tmp_path, LONG_GRACE) as gateway:
        reviewer = Reviewer(gateway.url)
        text = f"restart {uuid.uuid4()}"
        # The SDK's own retries carry the request over the restart (connection errors).
        client = openai.OpenAI(base_url=gateway.base_url, api_key="k", max_retries=5)
        reply = background(
            client.chat.completions.with_raw_response.create, model="human", messages=messages(text)
        )
        task = reviewer.wait_for_task(lambda t: t["preview"] == text)
        gateway.kill()
        gateway.start()  # same port, same store
        assert reviewer.task(task["id"])["status"] == "pending"
        assert reviewer.answer(task["id"], content="after the restart").status == 200
        raw = reply.result(timeout=30)
        assert raw.parse().choices[0].message.content == "after the restart"
        assert raw.headers["x-gateway-task"] == task["id"]
        assert int(raw.http_request.headers["x-stainless-retry-count"]) >= 1
        assert [t["id"] for t in tasks_for(reviewer, text)] == [task["id"]]


def test_a_graceful_stop_lets_waiting_clients_go_and_their_retry_gets_the_answer(tmp_path):
    with run_gateway(tmp_path, LONG_GRACE) as gateway:
        reviewer = Reviewer(gateway.url)
        text = f"graceful {uuid.uuid4()}"
        client = openai.OpenAI(base_url=gateway.base_url, api_key="k", max_retries=5)
        reply = background(
            client.chat.completions.with_raw_response.create, model="human", messages=messages(text)
        )
        task = reviewer.wait_for_task(lambda t: t["preview"] == text)
        gateway.stop()  # SIGINT: uvicorn drains, and must not wait for the person
        assert gateway.process.returncode != -9, "the gateway had to be killed"
        assert "gateway_restarting" not in "".join(gateway.output)  # not logged as an error
        gateway.start()
        assert reviewer.answer(task["id"], content="after a clean restart").status == 200
        raw = reply.result(timeout=30)
        assert raw.parse().choices[0].message.content == "after a clean restart"
        assert raw.headers["x-gateway-task"] == task["id"]
        assert [t["id"] for t in tasks_for(reviewer, text)] == [task["id"]]


def test_a_restart_longer_than_the_sdks_default_retries_needs_the_readmes_setting(tmp_path):
    """The README's settings (``max_retries=8``; ``reattach_grace_s = 60``) carry a client
    over a restart that outlasts the SDK's default retries; the default client's task
    is still kept."""
    with run_gateway(tmp_path, LONG_GRACE) as gateway:
        reviewer = Reviewer(gateway.url)
        texts = {"default": f"default {uuid.uuid4()}", "patient": f"patient {uuid.uuid4()}"}
        default = openai.OpenAI(base_url=gateway.base_url, api_key="k")  # max_retries=2
        patient = openai.OpenAI(base_url=gateway.base_url, api_key="k", max_retries=8)
        replies = {
            name: background(
                client.chat.completions.with_raw_response.create,
                model="human",
                messages=messages(texts[name]),
            )
            for name, client in (("default", default), ("patient", patient))
        }
        tasks = {
            name: reviewer.wait_for_task(lambda t, text=text: t["preview"] == text)
            for name, text in texts.items()
        }
        gateway.stop()
        # The gateway stays down until the default client has used up its retries
        # (the 503's retry-after of 2 s, then about 1 s of connection errors).
        with pytest.raises(openai.APIConnectionError):
            replies["default"].result(timeout=30)
        assert not replies["patient"].done()
        gateway.start()
        assert reviewer.answer(tasks["patient"]["id"], content="worth the wait").status == 200
        raw = replies["patient"].result(timeout=40)
        assert raw.parse().choices[0].message.content == "worth the wait"
        assert raw.headers["x-gateway-task"] == tasks["patient"]["id"]
        assert int(raw.http_request.headers["x-stainless-retry-count"]) > 2  # beyond the default
        # Tasks and answers always survive: the lost client's task is still there.
        assert reviewer.task(tasks["default"]["id"])["status"] == "pending"


def test_an_undelivered_answer_survives_a_restart(tmp_path):
    with run_gateway(tmp_path, LONG_GRACE) as gateway:
        reviewer = Reviewer(gateway.url)
        text = f"kept {uuid.uuid4()}"
        client = openai.OpenAI(base_url=gateway.base_url, api_key="k", timeout=0.3, max_retries=0)
        reply = background(client.chat.completions.create, model="human", messages=messages(text))
        task = reviewer.wait_for_task(lambda t: t["preview"] == text)
        with pytest.raises(openai.APITimeoutError):
            reply.result(timeout=10)
        assert reviewer.answer(task["id"], content="kept for you").status == 200
        gateway.kill()
        gateway.start()
        retried = client.with_options(timeout=5).chat.completions.create(
            model="human", messages=messages(text)
        )
        assert retried.choices[0].message.content == "kept for you"
        assert [t["id"] for t in tasks_for(reviewer, text)] == [task["id"]]


async def test_a_thousand_clients_each_get_their_own_answer(gateway):
    count = 1000
    run = uuid.uuid4().hex[:8]
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key="many", max_retries=0)

    async def ask(index: int) -> str:
        completion = await client.chat.completions.create(
            model="human", messages=messages(f"{run} question {index}")
        )
        return completion.choices[0].message.content

    replies = [asyncio.ensure_future(ask(index)) for index in range(count)]
    async with AsyncReviewer(gateway.url) as reviewer:
        deadline = asyncio.get_running_loop().time() + 180  # generous: a busy 2-core machine
        while True:
            waiting = [t for t in await reviewer.tasks("pending") if t["preview"].startswith(run)]
            if len(waiting) == count:
                break
            assert asyncio.get_running_loop().time() < deadline, f"{len(waiting)} tasks"
            await asyncio.sleep(0.1)
        assert not any(reply.done() for reply in replies)
        limit = asyncio.Semaphore(16)

        async def answer(task: dict) -> None:
            async with limit:
                reply = await reviewer.answer(task["id"], content=f"answer to {task['preview']}")
                assert reply.status == 200, reply.body

        await asyncio.gather(*(answer(task) for task in waiting))
    answers = await asyncio.wait_for(asyncio.gather(*replies), 60)
    await client.close()
    assert answers == [f"answer to {run} question {index}" for index in range(count)]
