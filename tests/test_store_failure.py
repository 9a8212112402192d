"""The store fails mid-run, on each backend: a locked SQLite file, a stopped
PostgreSQL server. Callers get a retryable 503 ``store_unavailable``, ``/readyz``
says not ready, nothing changes in memory, and after recovery there is no
phantom task (a request whose insert failed) and no stranded one (a task whose
answer failed to be written is still open, answerable, and its client still waits).
"""

from __future__ import annotations

import sqlite3
import urllib.error
import urllib.request

import openai
import pytest
from harness import openai_client, run_gateway, wait_until
from reviewer_client import Reviewer, background

EVERY_STATUS = "pending,claimed,answered,rejected,expired,cancelled"


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


class LockedFile:
    """SQLite: another connection holds the write lock (readers still read, in WAL)."""

    def __init__(self, tmp_path) -> None:
        self.path = tmp_path / "gateway.db"
        self.store = f'path = "{self.path}"'
        self.holder: sqlite3.Connection | None = None

    def fail(self) -> None:
        self.holder = sqlite3.connect(self.path, isolation_level=None)
        self.holder.execute("BEGIN EXCLUSIVE")

    def mend(self) -> None:
        assert self.holder is not None
        self.holder.execute("ROLLBACK")
        self.holder.close()


class StoppedServer:
    """PostgreSQL: the server stops, then starts again on the same port."""

    def __init__(self, cluster) -> None:
        self.cluster = cluster
        self.store = f'url = "{cluster.url()}"'

    def fail(self) -> None:
        self.cluster.stop("fast")

    def mend(self) -> None:
        self.cluster.start()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    if request.param == "sqlite":
        yield LockedFile(tmp_path)
        return
    request.getfixturevalue("postgres_cluster")  # skips without PostgreSQL
    from postgres import Cluster

    cluster = Cluster().init()  # its own server, so stopping it disturbs no other test
    try:
        yield StoppedServer(cluster)
    finally:
        cluster.destroy()


def ask(client: openai.OpenAI, text: str):
    return client.chat.completions.create(
        model="human", messages=[{"role": "user", "content": text}]
    )


def test_a_failing_store_changes_nothing_and_recovers(backend, tmp_path):
    config = f"[store]\n{backend.store}\ntimeout_s = 0.5\nsweep_s = 0.2\n"
    with run_gateway(tmp_path, config) as gateway:
        reviewer = Reviewer(gateway.url)
        client = openai_client(gateway)
        waiting = background(ask, client, "waits through the outage")
        task = reviewer.wait_for_task(lambda t: t["preview"] == "waits through the outage")
        backend.fail()
        try:
            reply = reviewer.answer(task["id"], content="too soon")
            assert reply.status == 503, reply.body
            assert reply.error["code"] == "store_unavailable"
            assert reply.error["type"] == "api_error"
            assert reply.headers["x-should-retry"] == "true"
            with pytest.raises(openai.InternalServerError) as raised:
                ask(client, "arrives during the outage")
            assert raised.value.status_code == 503
            assert raised.value.code == "store_unavailable"
            assert status_of(gateway.url + "/readyz") == 503
            assert not waiting.done()
        finally:
            backend.mend()
        wait_until(lambda: status_of(gateway.url + "/readyz") == 200, 20, what="ready again")
        every = reviewer.tasks(EVERY_STATUS)
        assert [t["preview"] for t in every] == ["waits through the outage"]  # no phantom
        assert every[0]["status"] == "pending"  # not stranded: still open
        retry = background(ask, client, "arrives during the outage")
        later = reviewer.wait_for_task(lambda t: t["preview"] == "arrives during the outage")
        assert reviewer.answer(task["id"], content="now").status == 200
        assert waiting.result(timeout=10).choices[0].message.content == "now"
        assert reviewer.answer(later["id"], content="welcome back").status == 200
        assert retry.result(timeout=10).choices[0].message.content == "welcome back"
        history = [e["event"] for e in reviewer.task(task["id"])["history"]]
        assert history == ["created", "answered"]
        assert len(reviewer.tasks(EVERY_STATUS)) == 2
