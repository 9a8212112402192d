"""A store outage on the Anthropic door: 529 ``overloaded_error`` (the anthropic SDK's
retryable class), and after recovery the same request is served."""

from __future__ import annotations

import sqlite3

import anthropic
import pytest
from harness import run_gateway
from reviewer_client import Reviewer, background

REQUEST = {"model": "human", "max_tokens": 8, "messages": [{"role": "user", "content": "hello?"}]}


def test_a_store_outage_is_overloaded_and_retryable(tmp_path) -> None:
    path = tmp_path / "gateway.db"
    config = f'[store]\npath = "{path}"\ntimeout_s = 0.5\nsweep_s = 0.2\n'
    with run_gateway(tmp_path, config) as gateway:
        client = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another writer holds the lock: writes fail
        try:
            with pytest.raises(anthropic.InternalServerError) as raised:
                client.messages.create(**REQUEST)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert raised.value.status_code == 529
        assert raised.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
        assert raised.value.response.headers["x-should-retry"] == "true"
        reviewer = Reviewer(gateway.url)
        assert reviewer.tasks("pending,claimed,answered,rejected,expired,cancelled") == []
        retry = background(client.messages.create, **REQUEST)
        task = reviewer.wait_for_task(lambda t: t["preview"] == "hello?")
        reviewer.answer(task["id"], content="Back.")
        assert retry.result(timeout=10).content[0].text == "Back."  # type: ignore[union-attr]
