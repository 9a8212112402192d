"""Escalation between reviewer groups across two gateway processes on one PostgreSQL
database: the deadline is stored, so it fires once wherever it comes due, even when
the process that made the task is gone; the webhook goes out once."""

from __future__ import annotations

import uuid

from aiohttp import web
from harness import Gateway, ThreadedServer, free_port, openai_client, wait_until
from reviewer_client import Reviewer, background

LEE = "tok-lee-0123456789"
OPS = "tok-ops-0123456789"


def config(url: str, hook: str) -> str:
    return f"""
[store]
url = "{url}"
sweep_s = 0.2

[auth]
reviewer_tokens = {{ lee = {{ token = "{LEE}", groups = ["legal"] }}, ops = {{ token = "{OPS}", groups = ["oncall"] }} }}

[models.counsel]
route = "human"
reviewers = ["legal"]
escalate_after_s = 3
escalate_to = ["oncall"]

[[notify.webhooks]]
url = "{hook}/hook"
events = ["task.escalated"]
"""  # noqa: E501


def test_escalation_fires_once_across_processes_and_survives_its_makers_death(
    postgres_cluster, tmp_path
):
    received: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    with ThreadedServer(app) as receiver:
        path = tmp_path / "cluster.toml"
        path.write_text(config(postgres_cluster.create_database(), receiver.url))
        maker, other = Gateway(path, free_port()).start(), Gateway(path, free_port()).start()
        try:
            lee, ops = Reviewer(other.url, "lee", LEE), Reviewer(other.url, "ops", OPS)
            # Two tasks: one whose maker lives, one whose maker dies before its deadline.
            texts = [f"logo {uuid.uuid4()}", f"contract {uuid.uuid4()}"]
            client = openai_client(maker, max_retries=0, timeout=60)
            for text in texts:  # the clients' answers are lost with their process; not awaited
                background(
                    client.chat.completions.create,
                    model="counsel",
                    messages=[{"role": "user", "content": text}],
                )
            tasks = [lee.wait_for_task(lambda t, text=text: t["preview"] == text) for text in texts]
            assert all(ops.call("GET", f"/api/tasks/{t['id']}").status == 404 for t in tasks)
            maker.kill()  # before the 3 s deadline: the other process's sweep must act

            def escalated() -> bool:
                return all(ops.call("GET", f"/api/tasks/{t['id']}").status == 200 for t in tasks)

            wait_until(escalated, timeout=15, what="both tasks escalated")
            for task in tasks:
                history = [e["event"] for e in ops.task(task["id"])["history"]]
                assert history.count("escalated") == 1, history
            wait_until(lambda: len(received) >= 2, timeout=15, what="two webhooks")
            assert sorted(body["task"]["id"] for body in received) == sorted(t["id"] for t in tasks)
            assert {body["event"] for body in received} == {"task.escalated"}
        finally:
            maker.stop()
            other.stop()
    assert len(received) == 2  # once each, though two processes heard of each change
