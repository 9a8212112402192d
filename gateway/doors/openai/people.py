"""The OpenAI doors' human and hybrid routes: a request handed to a service, its outcomes sent.

The request is already in the core's conversation form, so the door hands its
body over as it came; a hybrid route's model is the route's upstream chain
(``forward.model.UpstreamModel``), read with this door's ``OpenAIReader``.
"""

from __future__ import annotations

from collections.abc import Awaitable

import orjson

from gateway.doors.openai.model_reader import OpenAIReader, ask_for_logprobs
from gateway.doors.openai.outcomes import send_outcomes
from gateway.forward.model import UpstreamModel
from gateway.forward.owners import ForwardedResponses
from gateway.http.call import Call
from gateway.human.service import HumanService
from gateway.human.work import HumanRoute, Work
from gateway.hybrid.service import Consult, HybridService
from gateway.routing import HybridRoute

REVIEW_HEADER = b"x-human-review"  # "always": the client asks for a person


def work_of(call: Call) -> Work:
    """The call as the core's ``Work``."""
    return Work(
        api=call.api,
        dialect="openai",
        model=call.head.model,
        client=call.client,
        data=call.data,
        body=call.body,
        stream=call.head.stream,
        session_hint=call.header(b"x-session-id"),
    )


def serve_human(call: Call, route: HumanRoute, human: HumanService) -> Awaitable[int]:
    """A task for a person; the client gets the person's answer as a model's.

    A plain function handing back ``send_outcomes``' coroutine: a waiting client
    holds no frame of this one.
    """
    work = work_of(call)
    if not call.head.stream:
        # Only a stream's events read the request again (``stream_options``); a whole
        # JSON answer needs none of it, and the store keeps it: a client waiting on a
        # person should not hold its parsed body (~450 B, bench/human.py --trace).
        call.data, call.body = {}, b""
    return send_outcomes(call, human.serve(work, route, call.gone))


async def serve_hybrid(
    call: Call, route: HybridRoute, hybrid: HybridService, forwarded: ForwardedResponses
) -> int:
    """Ask the model; a person steps in where the route's policy says so."""
    body, added_logprobs = await _upstream_body(call, hybrid.human, route.policy.wants_logprobs)
    # Identity encoding: the gateway must read the reply it judges.
    headers = [(k, v) for k, v in call.scope["headers"] if k != b"accept-encoding"]
    consult = Consult(
        model=UpstreamModel(route.chain, call.path, call.head.model, headers),
        reader=OpenAIReader(call.api),
        body=body,
        policy=route.policy,
        human=route.human,
        added_logprobs=added_logprobs,
        client_asks=(call.header(REVIEW_HEADER) or "").strip().lower() == "always",
    )
    outcomes = hybrid.serve(work_of(call), consult, call.gone)
    return await send_outcomes(call, outcomes, "hybrid", forwarded)


async def _upstream_body(
    call: Call, human: HumanService, wants_logprobs: bool
) -> tuple[bytes, bool]:
    """The body to send upstream, and whether logprobs were added for the policy."""
    data, rewritten = call.data, False
    if call.api == "responses" and data.get("previous_response_id"):
        # A chain through a person's answer is unknown upstream: send its history.
        resolved = await human.resolve_chain(data, call.client)
        if resolved is not None:
            data = {k: v for k, v in resolved[0].items() if k != "previous_response_id"}
            rewritten = True
    added_logprobs = False
    if wants_logprobs:
        data, added_logprobs = ask_for_logprobs(call.api, data)
    body = orjson.dumps(data) if rewritten or added_logprobs else call.body
    return body, added_logprobs
