"""Three gateway processes on one PostgreSQL database, as replicas behind a load
balancer: the real openai SDK as client, reviewers on any process.

What one process does, every process sees: answers wake clients held elsewhere,
claims race across processes with one winner, dashboards hear every process's
events, a killed process's clients get their answers through the others and its
tasks still expire, and a reviewer's cookie works everywhere.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid

import openai
import pytest
from balancer import Balancer
from harness import Gateway, free_port, openai_client, wait_until
from reviewer_client import EventLog, Reviewer, background

EVERY_STATUS = "pending,claimed,answered,rejected,expired,cancelled"


def cluster_config(url: str, extra: str = "") -> str:
    return (
        f'[store]\nurl = "{url}"\nsweep_s = 0.2\n'
        "[human]\nreattach_grace_s = 60\n"
        '[models.human]\nroute = "human"\n'
        '[models.quick]\nroute = "human"\ntimeout_s = 1.5\n' + extra
    )


def start_gateways(tmp_path, url: str, count: int, extra: str = "") -> list[Gateway]:
    path = tmp_path / f"cluster-{uuid.uuid4().hex[:6]}.toml"
    path.write_text(cluster_config(url, extra))
    gateways: list[Gateway] = []
    try:
        for _ in range(count):
            gateways.append(Gateway(path, free_port()).start())
    except BaseException:
        for gateway in gateways:
            gateway.stop()
        raise
    return gateways


@pytest.fixture(scope="module")
def cluster(postgres_cluster, tmp_path_factory):
    url = postgres_cluster.create_database()
    gateways = start_gateways(tmp_path_factory.mktemp("cluster"), url, 3)
    yield gateways
    for gateway in gateways:
        gateway.stop()


def ask(client: openai.OpenAI, text: str, model: str = "human"):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])


def test_a_client_on_one_process_is_answered_through_another(cluster):
    a, b, _ = cluster
    text = f"across {uuid.uuid4()}"
    reply = background(ask, openai_client(a), text)
    reviewer = Reviewer(b.url)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert reviewer.answer(task["id"], content="from B").status == 200
    completion = reply.result(timeout=10)
    assert completion.choices[0].message.content == "from B"


def test_eight_reviewers_on_three_processes_race_for_one_claim(cluster):
    text = f"race {uuid.uuid4()}"
    reply = background(ask, openai_client(cluster[0]), text)
    task = Reviewer(cluster[1].url).wait_for_task(lambda t: t["preview"] == text)
    reviewers = [Reviewer(cluster[i % 3].url, f"r{i}") for i in range(8)]
    start = threading.Barrier(8)

    def claim(reviewer: Reviewer):
        start.wait()
        return reviewer.claim(task["id"])

    outcomes = [background(claim, reviewer) for reviewer in reviewers]
    replies = [outcome.result(timeout=20) for outcome in outcomes]
    winners = [r for r in replies if r.status == 200]
    assert len(winners) == 1, [(r.status, r.body) for r in replies]
    assert all(
        r.status == 409 and r.error["code"] == "task_claimed" for r in replies if r.status != 200
    )
    winner = reviewers[replies.index(winners[0])]
    assert winner.answer(task["id"], content="mine").status == 200
    assert reply.result(timeout=10).choices[0].message.content == "mine"
    history = [e["event"] for e in Reviewer(cluster[2].url).task(task["id"])["history"]]
    assert history == ["created", "claimed", "answered"]


def test_a_dashboard_on_one_process_sees_tasks_created_on_another(cluster):
    a, b, c = cluster
    text = f"seen {uuid.uuid4()}"
    with EventLog(a.url) as events:
        reply = background(ask, openai_client(c), text)
        created = wait_until(
            lambda: next(
                (d for n, d in events.events if n == "task.created" and d["preview"] == text), None
            ),
            10,
            what="task.created on A for a task made on C",
        )
        assert Reviewer(b.url).answer(created["id"], content="seen").status == 200
        events.wait_for("task.answered", created["id"])
    assert reply.result(timeout=10).choices[0].message.content == "seen"


async def test_killing_the_process_that_holds_fifty_clients_loses_nothing(cluster):
    a, b, c = cluster
    tag = uuid.uuid4().hex[:8]
    texts = [f"kill {tag} {i}" for i in range(50)]
    with Balancer([a.port]) as balancer:  # everyone starts on A
        client = openai.AsyncOpenAI(base_url=balancer.base_url, api_key="k", max_retries=8)
        replies = [asyncio.ensure_future(ask_async(client, text)) for text in texts]
        reviewer = Reviewer(b.url)
        await asyncio.to_thread(
            wait_until,
            lambda: len([t for t in reviewer.tasks() if t["preview"] in texts]) == 50,
            20,
            what="50 tasks",
        )
        balancer.ports = [a.port, b.port, c.port]  # retries go wherever is alive
        a.kill()
        try:
            tasks = [t for t in reviewer.tasks() if t["preview"] in texts]
            for i, task in enumerate(tasks):
                answerer = Reviewer(cluster[1 + i % 2].url)
                reply = await asyncio.to_thread(
                    answerer.answer, task["id"], content="answer to " + task["preview"]
                )
                assert reply.status == 200, reply.body
            completions = await asyncio.wait_for(asyncio.gather(*replies), 60)
        finally:
            a.start()  # same port, same database: back for the other tests
        await client.close()
    for text, completion in zip(texts, completions, strict=True):
        assert completion.choices[0].message.content == "answer to " + text
    every = [t for t in reviewer.tasks(EVERY_STATUS) if t["preview"] in texts]
    assert len(every) == 50 and {t["status"] for t in every} == {"answered"}
    # The retries went to both other processes (keep-alive connections carry several).
    assert balancer.connections.get(b.port, 0) > 0 and balancer.connections.get(c.port, 0) > 0


async def ask_async(client: openai.AsyncOpenAI, text: str):
    return await client.chat.completions.create(
        model="human", messages=[{"role": "user", "content": text}]
    )


def test_a_task_made_on_a_killed_process_still_expires_on_time(cluster):
    a, _, c = cluster
    text = f"orphan {uuid.uuid4()}"
    background(ask, openai_client(c), text, "quick")  # its client dies with C
    reviewer = Reviewer(a.url)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    c.kill()
    try:
        expired = reviewer.wait_for_status(task["id"], "expired", timeout=10)
        assert expired["finished_at"] - expired["expires_at"] < 1.0  # a sweep of 0.2 s
        history = [(e["event"], e["actor"]) for e in reviewer.task(task["id"])["history"]]
        assert history == [("created", None), ("expired", "timeout")]  # acted on once
    finally:
        c.start()


def test_a_reviewer_cookie_from_one_process_works_on_another(postgres_cluster, tmp_path):
    url = postgres_cluster.create_database()
    extra = '[auth]\nreviewer_tokens = { alice = "alice-token" }\n'
    a, b = start_gateways(tmp_path, url, 2, extra)
    try:
        login = urllib.request.Request(
            a.url + "/api/login",
            data=json.dumps({"token": "alice-token"}).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(login, timeout=10) as reply:
            cookie = reply.headers["set-cookie"].split(";")[0]

        def me(gateway: Gateway) -> int:
            request = urllib.request.Request(gateway.url + "/api/me", headers={"cookie": cookie})
            try:
                with urllib.request.urlopen(request, timeout=10) as reply:
                    assert json.loads(reply.read())["reviewer"] == "alice"
                    return reply.status
            except urllib.error.HTTPError as error:
                return error.code

        assert me(b) == 200
        logout = urllib.request.Request(
            b.url + "/api/logout", headers={"cookie": cookie, "content-type": "application/json"},
            data=b"{}", method="POST",
        )  # fmt: skip
        urllib.request.urlopen(logout, timeout=10).close()
        assert me(a) == 401
    finally:
        a.stop()
        b.stop()


def test_several_workers_share_one_port(postgres_cluster, tmp_path):
    url = postgres_cluster.create_database()
    path = tmp_path / "workers.toml"
    path.write_text(cluster_config(url))
    gateway = Gateway(path, free_port(), args=["--workers", "2"]).start()
    try:
        text = f"workers {uuid.uuid4()}"
        reply = background(ask, openai_client(gateway), text)
        reviewer = Reviewer(gateway.url)
        task = reviewer.wait_for_task(lambda t: t["preview"] == text)
        assert reviewer.answer(task["id"], content="either worker").status == 200
        assert reply.result(timeout=10).choices[0].message.content == "either worker"
        for _ in range(6):
            openai_client(gateway).models.list()
        with urllib.request.urlopen(gateway.url + "/metrics", timeout=10) as metrics:
            text = metrics.read().decode()
        # One family summed over the workers (multiprocess mode), not one per worker.
        assert text.count("# TYPE gateway_requests_total counter") == 1
        assert (
            'gateway_requests_total{api="chat.completions",model="human",outcome="ok",'
            'route="human",status="200"} 1.0' in text
        )
    finally:
        gateway.stop()
    assert gateway.process.returncode == 0


def test_several_workers_are_refused_on_sqlite(tmp_path):
    path = tmp_path / "sqlite.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "one.db"}"\n')
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(path), "--workers", "2"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "PostgreSQL" in lines[0] and "--workers 2" in lines[0]
