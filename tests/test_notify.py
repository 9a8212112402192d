"""Webhooks on task events (gateway/notify.py): a real gateway, the openai SDK as
the agent, and real local HTTP receivers (aiohttp) standing for the webhook ends."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import orjson
import pytest
from aiohttp import web
from harness import ThreadedServer, closed_port, openai_client, run_gateway, wait_until
from reviewer_client import Reviewer, background

from gateway.config import WebhookConfig
from gateway.events.webhooks import message_body, signature, task_link

SECRET = "s3cret-for-tests"


class Receiver:
    """An HTTP endpoint that records what it gets; the first ``fail`` posts get a 503."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.attempts = 0
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        self.server = ThreadedServer(app)

    async def hook(self, request: web.Request) -> web.Response:
        self.attempts += 1
        body = await request.read()
        if self.attempts <= self.fail:
            return web.Response(status=503)
        self.received.append((dict(request.headers), body))
        return web.Response(text="ok")

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receivers():
    plain, flaky = Receiver(), Receiver(fail=2)
    with plain.server, flaky.server:
        yield plain, flaky


def test_webhooks_signed_retried_slack_and_off_the_request_path(tmp_path, receivers) -> None:
    plain, flaky = receivers
    with closed_port() as dead:
        config = f"""
[notify]
dashboard_url = "https://review.example.test/"

[[notify.webhooks]]
url = "{plain.server.url}/hook"
events = ["task.created", "task.answered"]
secret = "{SECRET}"

[[notify.webhooks]]
url = "{flaky.server.url}/hook"
format = "slack"

[[notify.webhooks]]
url = "http://127.0.0.1:{dead}/hook"
retries = 1
"""
        with run_gateway(tmp_path, config) as gateway:
            question = f"Refund order 7? <b>{uuid.uuid4().hex[:6]}</b>"
            client = openai_client(gateway, "sk-hooks")
            reply = background(
                client.chat.completions.create,
                model="human",
                messages=[{"role": "user", "content": question}],
            )
            wait_until(lambda: plain.received, 10, what="the created event")
            headers, body = plain.received[0]
            event = json.loads(body)
            task = event["task"]
            assert event["event"] == "task.created" and task["preview"] == question
            assert headers["X-Gateway-Event"] == "task.created"
            assert event["url"] == f"https://review.example.test/#task={task['id']}"
            expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert headers["X-Signature"] == f"sha256={expected}"

            # The person answers; the dead webhook never held anything up.
            assert Reviewer(gateway.url).answer(task["id"], content="Yes.").status == 200
            assert reply.result(timeout=10).choices[0].message.content == "Yes."
            wait_until(lambda: len(plain.received) == 2, 10, what="the answered event")
            answered = plain.bodies()[1]
            assert answered["event"] == "task.answered"
            assert answered["task"]["status"] == "answered"

            # Slack's body, after two 503s retried (1 s, then 2 s).
            wait_until(lambda: flaky.received, 15, what="the retried Slack delivery")
            assert flaky.attempts == 3 and len(flaky.received) == 1
            text = flaky.bodies()[0]["text"]
            assert text.startswith("New task for *human*: Refund order 7? &lt;b&gt;")
            assert text.endswith(f"<https://review.example.test/#task={task['id']}|open the task>")
            assert "X-Signature" not in flaky.received[0][0]
        assert not any("s3cret" in line for line in gateway.output)


def test_message_bodies_and_links() -> None:
    hook = WebhookConfig(url="https://hooks.example.test/x", format="slack")
    task = {"id": "task_1", "model": "human", "step": 3, "preview": "a\nb"}
    link = task_link("http://127.0.0.1:8000/", "task_1")
    assert link == "http://127.0.0.1:8000/#task=task_1"
    slack = orjson.loads(message_body(hook, "task.created", task, link))
    assert slack == {"text": f"New task for *human* (step 3): a b <{link}|open the task>"}
    plain = orjson.loads(
        message_body(WebhookConfig(url="http://x.test/"), "task.expired", task, link)
    )
    assert (plain["event"], plain["url"], plain["task"]) == ("task.expired", link, task)
    assert signature("k", b"{}") == "sha256=" + hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()
    with pytest.raises(ValueError):
        WebhookConfig(url="ftp://nope")


class Redirector:
    """A webhook end that answers 307 to a second path, which records what reaches it."""

    def __init__(self) -> None:
        self.attempts = 0
        self.redirected: list[bytes] = []
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        app.router.add_post("/elsewhere", self.elsewhere)
        self.server = ThreadedServer(app)

    async def hook(self, request: web.Request) -> web.Response:
        self.attempts += 1
        await request.read()
        raise web.HTTPTemporaryRedirect(f"{self.server.url}/elsewhere")

    async def elsewhere(self, request: web.Request) -> web.Response:
        self.redirected.append(await request.read())
        return web.Response(text="ok")


def test_slack_fields_escaped_and_redirects_not_followed(tmp_path) -> None:
    """Issue 16, items 4 and 5: a model name cannot make a Slack link, and a 307
    does not carry the signed body anywhere else (it is a failed delivery, logged)."""
    slack, redirector = Receiver(), Redirector()
    with slack.server, redirector.server:
        config = f"""
[notify]
dashboard_url = "https://review.example.test/"

[[notify.webhooks]]
url = "{slack.server.url}/hook"
format = "slack"

[[notify.webhooks]]
url = "{redirector.server.url}/hook"
secret = "{SECRET}"
retries = 2
"""
        with run_gateway(tmp_path, config) as gateway:
            model = "human/<http://evil.test|Approve all pending tasks> & <!channel>"
            client = openai_client(gateway, "sk-hooks")
            reply = background(
                client.chat.completions.create,
                model=model,
                messages=[{"role": "user", "content": "Ship it?"}],
            )
            wait_until(lambda: slack.received, 10, what="the Slack delivery")
            text = slack.bodies()[0]["text"]
            escaped = (
                "human/&lt;http://evil.test|Approve all pending tasks&gt; &amp; &lt;!channel&gt;"
            )
            assert text.startswith(f"New task for *{escaped}*: Ship it? <https://")
            # The only markup left is the gateway's own link to the task.
            assert text.count("<") == 1 and text.count(">") == 1

            wait_until(
                lambda: any("redirect to" in line for line in gateway.output),
                10,
                what="the logged redirect",
            )
            line = next(line for line in gateway.output if "redirect to" in line)
            assert "307" in line and f"{redirector.server.url}/elsewhere" in line
            assert redirector.attempts == 1  # a redirect is not retried either
            assert redirector.redirected == []
            task_id = Reviewer(gateway.url).tasks()[0]["id"]
            assert Reviewer(gateway.url).answer(task_id, content="No.").status == 200
            assert reply.result(timeout=10).choices[0].message.content == "No."
            assert redirector.redirected == []
