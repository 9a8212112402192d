"""A forwarded Responses id belongs to the client that made it (issue 16, item 2).

The real ``openai`` SDK with two client keys against a gateway process, in front
of a fake upstream: ``GET``/``DELETE /v1/responses/{id}``, ``input_items`` and
``cancel`` of a forwarded response serve its maker only; anyone else gets the
404 of an id that does not exist, and the upstream is never asked for them.
Without client keys, an id the gateway never saw is still asked of the upstreams.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from fake_upstream import FakeUpstream
from harness import Gateway, run_gateway
from openai.types.responses import Response, ResponseItemList
from pydantic import TypeAdapter

OWNER, OTHER = "sk-owner", "sk-other"
CONFIG = """
[auth]
client_keys = ["{owner}", "{other}"]

[upstreams.alpha]
base_url = "{alpha}"

[models.small]
upstream = "alpha"

# Hybrid models whose model answers: relayed as it comes, and judged then sent.
[models.relayed]
upstream = "alpha"
human = "rescue"

[models.judged]
upstream = "alpha"
human = "escalate"
min_confidence = 0.5
"""


@pytest.fixture(scope="module")
def alpha() -> Iterator[FakeUpstream]:
    with FakeUpstream("alpha") as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(alpha, tmp_path_factory) -> Iterator[Gateway]:
    config = CONFIG.format(owner=OWNER, other=OTHER, alpha=alpha.url)
    with run_gateway(tmp_path_factory.mktemp("owners"), config) as gateway:
        yield gateway


def sdk(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=20)


def not_found(call, *args) -> dict:
    """The 404 body of ``call(*args)``, which must fail so."""
    with pytest.raises(openai.NotFoundError) as caught:
        call(*args)
    return caught.value.body


def made_ids(owner: openai.OpenAI, model: str) -> list[str]:
    """One response made plainly and one streamed, through the gateway."""
    plain = owner.responses.create(model=model, input="Say hello")
    with owner.responses.create(model=model, input="Say hello", stream=True) as stream:
        streamed = next(event.response.id for event in stream if event.type == "response.created")
    return [plain.id, streamed]


@pytest.mark.parametrize("model", ["small", "relayed", "judged"])
def test_only_the_maker_of_a_forwarded_response_reaches_it(gateway, alpha, model) -> None:
    owner, other = sdk(gateway, OWNER), sdk(gateway, OTHER)
    for response_id in made_ids(owner, model):
        asked = len(alpha.received)
        unknown = not_found(other.responses.retrieve, "resp_never_made")
        # Exactly the 404 of an id that does not exist, for every route.
        expected = {**unknown, "message": unknown["message"].replace("resp_never_made", "")}
        for attempt in (
            other.responses.retrieve,
            other.responses.input_items.list,
            other.responses.cancel,
            other.responses.delete,
        ):
            body = not_found(attempt, response_id)
            assert {**body, "message": body["message"].replace(response_id, "")} == expected
        assert len(alpha.received) == asked  # none of it reached the upstream
        # Its maker still has it, untouched by the other's delete.
        got = owner.responses.retrieve(response_id)
        assert TypeAdapter(Response).validate_python(got.model_dump()).id == response_id
        items = owner.responses.input_items.list(response_id)
        TypeAdapter(ResponseItemList).validate_python(items.model_dump())
        owner.responses.delete(response_id)
        assert alpha.last.method == "DELETE"
        assert not_found(owner.responses.retrieve, response_id)  # gone upstream


def test_an_id_the_gateway_never_saw_is_not_asked_of_upstreams_with_client_keys(
    gateway, alpha
) -> None:
    # Made at the upstream directly (not through the gateway): the gateway never saw it.
    direct = openai.OpenAI(base_url=alpha.url, api_key="x", max_retries=0)
    made = direct.responses.create(model="small", input="Say hello")
    asked = len(alpha.received)
    not_found(sdk(gateway, OWNER).responses.retrieve, made.id)
    assert len(alpha.received) == asked


def test_without_client_keys_an_unknown_id_is_asked_of_the_upstreams(alpha, tmp_path) -> None:
    config = f'[upstreams.alpha]\nbase_url = "{alpha.url}"\n\n[models.small]\nupstream = "alpha"\n'
    direct = openai.OpenAI(base_url=alpha.url, api_key="x", max_retries=0)
    made = direct.responses.create(model="small", input="Say hello")
    with run_gateway(tmp_path, config) as open_gateway:
        anyone = sdk(open_gateway, "anything")
        got = anyone.responses.retrieve(made.id)
        assert TypeAdapter(Response).validate_python(got.model_dump()).id == made.id
        assert alpha.last.path == f"/v1/responses/{made.id}"


def test_the_record_survives_a_restart(gateway, alpha) -> None:
    owner, other = sdk(gateway, OWNER), sdk(gateway, OTHER)
    made = owner.responses.create(model="small", input="Say hello")
    gateway.stop()
    gateway.start()  # same port, same store
    assert owner.responses.retrieve(made.id).id == made.id
    not_found(other.responses.retrieve, made.id)
