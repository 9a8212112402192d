"""The OpenAI doors' ``Shaper``: a person's answer as a Chat Completion or a Response."""

from __future__ import annotations

import secrets
import time
from typing import Any

from gateway.doors.openai.shapes import chat_completion, new_id, response_object
from gateway.human.answers import Reply
from gateway.human.request import responses_input
from gateway.human.steps import ids_in
from gateway.human.task import Task
from gateway.human.work import Shaped


class OpenAIShaper:
    """Shapes answers for tasks whose client spoke Chat Completions or Responses."""

    def shape(self, task: Task, request: dict[str, Any], replies: list[Reply]) -> Shaped:
        created = int(time.time())
        if task.api == "chat.completions":
            completion_id = "chatcmpl-" + secrets.token_hex(12)
            return Shaped(
                chat_completion(completion_id, task.model, created, replies, task.prompt_tokens)
            )
        response_id = new_id("resp")
        result = response_object(
            response_id, request, task.model, created, replies[0], task.prompt_tokens
        )
        # A stored response can be fetched and chained from (``store`` defaults to true).
        kept = responses_input(request) if request.get("store", True) is not False else None
        return Shaped(result, response_id, kept)

    def answer_items(self, task: Task) -> list[Any]:
        result = task.result or {}
        if task.api == "chat.completions":
            choices = result.get("choices") or [{}]
            return [choices[0].get("message") or {}]
        return list(result.get("output") or [])

    def minted_ids(self, task: Task) -> list[str]:
        ids = ids_in(task.api, self.answer_items(task))
        result = task.result or {}
        if task.api == "responses" and isinstance(result.get("id"), str):
            return [result["id"], *ids]
        return ids
