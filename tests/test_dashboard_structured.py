"""The dashboard for structured outputs and n > 1: a form built from the request's
schema (with a raw-JSON switch and a plain statement of what is required), and one
reply slot per choice. A person answers in headless Chromium; the real openai SDK
receives the answer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from browser import Watched, requires_chromium, sdk_client
from browser import browser as browser  # the module-scoped fixture
from browser import watched as watched
from choices_upstream import fake_provider
from harness import Gateway, ThreadedServer, run_gateway
from playwright.sync_api import expect
from pydantic import BaseModel
from reviewer_client import background

pytestmark = [pytest.mark.browser, requires_chromium]

CONFIG = """
[models.desk]
route = "human"

[upstreams.fake]
base_url = "{url}/v1"
retries = 0

[models."review+human"]
upstream = "fake"
human = "review"
"""


class Address(BaseModel):
    city: str
    postcode: str


class Person(BaseModel):
    name: str
    age: int
    address: Address


class City(BaseModel):
    name: str


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    with ThreadedServer(fake_provider([])) as fake:
        tmp = tmp_path_factory.mktemp("dash-structured")
        with run_gateway(tmp, CONFIG.format(url=fake.url)) as gateway:
            yield gateway


def open_task(watched: Watched, gateway: Gateway, text: str) -> None:
    page = watched.page
    page.goto(gateway.url)
    expect(page.locator("#conn")).to_have_text("live")
    page.locator(".task-row").filter(has_text=text).click()
    expect(page.locator("#task")).to_be_visible()


def test_a_schema_form_answers_a_parse_request(gateway: Gateway, watched: Watched) -> None:
    text = f"Who wrote the first program? {uuid.uuid4()}"
    messages = [{"role": "user", "content": text}]
    reply = background(
        sdk_client(gateway).chat.completions.parse,
        model="human",
        messages=messages,
        response_format=Person,
    )
    open_task(watched, gateway, text)
    page = watched.page
    shape = page.locator("#answer-shape")
    expect(shape).to_be_visible()
    expect(shape.locator(".shape-note")).to_contain_text("must be JSON of that shape")
    expect(shape.locator(".shape-note")).to_contain_text("Person")
    expect(page.locator("#reply")).to_be_hidden()  # the form is the answer
    expect(shape.locator(".add-call")).to_be_hidden()
    shape.locator('input[name="name"]').fill("Ada Lovelace")
    shape.locator('input[name="age"]').fill("thirty-six")
    shape.locator('input[name="city"]').fill("London")  # a nested model, $ref resolved
    page.locator("#btn-submit").click()
    expect(page.locator("#reply-error")).to_contain_text("fix the fields marked in red")
    expect(shape.locator('[data-error-for="age"]')).to_have_text("must be a number")
    shape.locator('input[name="age"]').fill("36")
    shape.locator('input[name="postcode"]').fill("W1")
    expect(page.locator("#reply-error")).to_have_text("")  # the old problem is gone
    for size in ({"width": 1280, "height": 720}, {"width": 1600, "height": 1000}):
        page.set_viewport_size(size)
        watched.snap(f"structured-form-{size['width']}")
    page.locator("#btn-submit").click()
    completion = reply.result(timeout=30)
    person = completion.choices[0].message.parsed
    assert person == Person(
        name="Ada Lovelace", age=36, address={"city": "London", "postcode": "W1"}
    )
    expect(page.locator("#task")).to_be_hidden()
    expect(page.locator("#answer-shape")).to_have_count(0)
    assert not watched.errors


def test_the_raw_json_switch_and_a_server_refusal(gateway: Gateway, watched: Watched) -> None:
    text = f"Name a city {uuid.uuid4()}"
    reply = background(
        sdk_client(gateway).responses.parse, model="human", input=text, text_format=City
    )
    open_task(watched, gateway, text)
    page = watched.page
    shape = page.locator("#answer-shape")
    shape.locator('input[name="name"]').fill("Oslo")
    shape.locator(".raw-toggle").check()
    raw = shape.locator("textarea.raw-json")
    expect(raw).to_have_value('{\n  "name": "Oslo"\n}')
    raw.fill('{"name": "Oslo", "country": "Norway"}')  # strict: no other keys
    page.locator("#btn-submit").click()
    expect(page.locator("#reply-error")).to_contain_text("'country' was unexpected")
    expect(page.locator("#task")).to_be_visible()  # still open: fix and send again
    raw.fill('{"name": "Oslo"}')
    page.locator("#btn-submit").click()
    assert reply.result(timeout=30).output_parsed == City(name="Oslo")
    assert [error for error in watched.errors if "status of 422" not in error] == []


def test_n_reply_slots(gateway: Gateway, watched: Watched) -> None:
    text = f"Three greetings {uuid.uuid4()}"
    messages = [{"role": "user", "content": text}]
    reply = background(
        sdk_client(gateway).chat.completions.create, model="human", messages=messages, n=3
    )
    open_task(watched, gateway, text)
    page = watched.page
    shape = page.locator("#answer-shape")
    expect(shape.locator("h3")).to_have_text("3 answers")
    expect(shape.locator(".shape-note")).to_contain_text("n = 3")
    slots = shape.locator(".slot textarea")
    expect(slots).to_have_count(3)
    expect(page.locator("#reply")).to_be_hidden()  # the slots stand in for it
    slots.nth(0).fill("Hello!")
    slots.nth(2).fill("Good day.")
    page.locator("#btn-submit").click()
    expect(page.locator("#reply-error")).to_contain_text("Answer 2 is empty")
    slots.nth(1).fill("Hi there.")
    for size in ({"width": 1280, "height": 720}, {"width": 1600, "height": 1000}):
        page.set_viewport_size(size)
        watched.snap(f"n-slots-{size['width']}")
    page.locator("#btn-submit").click()
    completion = reply.result(timeout=30)
    assert [c.message.content for c in completion.choices] == ["Hello!", "Hi there.", "Good day."]
    assert not watched.errors


def test_n_structured_slots_survive_a_reload(gateway: Gateway, watched: Watched) -> None:
    text = f"Two cities {uuid.uuid4()}"
    messages = [{"role": "user", "content": text}]
    reply = background(
        sdk_client(gateway).chat.completions.parse,
        model="human",
        messages=messages,
        response_format=City,
        n=2,
    )
    open_task(watched, gateway, text)
    page = watched.page
    forms = page.locator("#answer-shape .json-answer")
    expect(forms).to_have_count(2)
    forms.nth(0).locator('input[name="name"]').fill("Paris")
    forms.nth(1).locator('input[name="name"]').fill("Rome")
    page.reload()
    reloaded = page.locator("#answer-shape .json-answer").nth(1)
    expect(reloaded.locator('input[name="name"]')).to_have_value("Rome")
    page.locator("#btn-submit").click()
    completion = reply.result(timeout=30)
    assert [c.message.parsed.name for c in completion.choices] == ["Paris", "Rome"]
    assert not watched.errors


def test_a_drafts_choices_load_into_the_slots(gateway: Gateway, watched: Watched) -> None:
    text = f"Two model cities {uuid.uuid4()}"
    messages = [{"role": "user", "content": text}]
    reply = background(
        sdk_client(gateway).chat.completions.parse,
        model="review+human",
        messages=messages,
        response_format=City,
        n=2,
    )
    open_task(watched, gateway, text)
    page = watched.page
    expect(page.locator("#draft-body .draft-choice")).to_have_count(2)
    expect(page.locator("#draft-body")).to_contain_text('Answer 2: {"name": "Model 1"}')
    page.locator("#btn-edit-draft").click()
    forms = page.locator("#answer-shape .json-answer")
    expect(forms.nth(0).locator('input[name="name"]')).to_have_value("Model 0")
    forms.nth(1).locator('input[name="name"]').fill("Edited")
    page.locator("#btn-submit").click()
    completion = reply.result(timeout=30)
    assert [c.message.parsed.name for c in completion.choices] == ["Model 0", "Edited"]
    assert not watched.errors


def test_json_mode_keeps_the_reply_box_and_wants_json(gateway: Gateway, watched: Watched) -> None:
    text = f"Any JSON {uuid.uuid4()}"
    messages = [{"role": "user", "content": text}]
    reply = background(
        sdk_client(gateway).chat.completions.create,
        model="human",
        messages=messages,
        response_format={"type": "json_object"},
    )
    open_task(watched, gateway, text)
    page = watched.page
    expect(page.locator("#answer-shape .shape-note")).to_contain_text("must be valid JSON")
    expect(page.locator("#reply-text")).to_be_visible()
    page.locator("#reply-text").fill("{'single': 'quotes'}")
    page.locator("#btn-submit").click()
    expect(page.locator("#reply-error")).to_contain_text("not valid JSON")
    page.locator("#reply-text").fill('{"ok": true}')
    page.locator("#btn-submit").click()
    assert reply.result(timeout=30).choices[0].message.content == '{"ok": true}'
    assert not watched.errors
