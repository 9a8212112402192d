"""Structured outputs' pure parts, in process: reading the output format a request asks
for, strict mode's reading of a schema, and a person's content checked against it."""

from __future__ import annotations

import pytest

from gateway.errors import GatewayError
from gateway.human.output_formats import checked_content, output_format_of, strict_schema
from gateway.human.request import choices_wanted

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
}


def test_output_format_from_either_api():
    chat = {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "P", "schema": SCHEMA, "strict": True},
        }
    }
    responses = {
        "text": {"format": {"type": "json_schema", "name": "P", "schema": SCHEMA, "strict": True}}
    }
    expected = {
        "type": "json_schema",
        "name": "P",
        "description": None,
        "schema": SCHEMA,
        "strict": True,
    }
    assert output_format_of("chat.completions", chat) == expected
    assert output_format_of("responses", responses) == expected
    assert output_format_of("chat.completions", {"response_format": {"type": "json_object"}}) == {
        "type": "json_object"
    }
    for text in ({}, {"response_format": {"type": "text"}}, {"response_format": "x"}):
        assert output_format_of("chat.completions", text) is None
    assert output_format_of("responses", {"text": {"format": {"type": "text"}}}) is None
    assert output_format_of("responses", {"text": {"verbosity": "low"}}) is None


@pytest.mark.parametrize(
    ("api", "data", "param"),
    [
        (
            "chat.completions",
            {"response_format": {"type": "json_schema"}},
            "response_format.json_schema",
        ),
        ("responses", {"text": {"format": {"type": "json_schema", "schema": []}}}, "text.format"),
        (
            "responses",
            {"text": {"format": {"type": "json_schema", "schema": {"type": 5}}}},
            "text.format.schema",
        ),
    ],
)
def test_a_malformed_format_is_a_400(api, data, param):
    with pytest.raises(GatewayError) as caught:
        output_format_of(api, data)
    assert caught.value.status == 400 and caught.value.param == param


def test_strict_schema_closes_every_object_and_requires_every_property():
    schema = {
        "type": "object",
        "properties": {
            "person": {"$ref": "#/$defs/Person"},
            "tags": {"type": "array", "items": {"type": "object", "properties": {"k": {}}}},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {"x": {}}}]},
            "type": {"type": "string", "enum": [{"type": "object", "properties": {}}]},
        },
        "$defs": {"Person": {"type": "object", "properties": {"name": {"type": "string"}}}},
    }
    strict = strict_schema(schema)
    assert strict["required"] == ["person", "tags", "maybe", "type"]
    assert strict["additionalProperties"] is False
    assert strict["$defs"]["Person"] == {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "additionalProperties": False,
        "required": ["name"],
    }
    assert strict["properties"]["tags"]["items"]["required"] == ["k"]
    assert strict["properties"]["maybe"]["anyOf"][1]["additionalProperties"] is False
    # enum values are data, not schemas; a property named "type" is a property
    assert strict["properties"]["type"]["enum"] == [{"type": "object", "properties": {}}]
    assert schema["$defs"]["Person"].get("required") is None  # the original is untouched


def test_checked_content():
    strict = {"type": "json_schema", "name": "P", "schema": SCHEMA, "strict": True}
    loose = {**strict, "strict": False}
    assert (
        checked_content('{"name": "A", "age": 1}', strict, "content") == '{"name": "A", "age": 1}'
    )
    assert checked_content({"name": "A", "age": 1}, strict, "content") == '{"name":"A","age":1}'
    assert checked_content({"name": "A"}, loose, "content") == '{"name":"A"}'
    assert checked_content("[1, 2]", {"type": "json_object"}, "content") == "[1, 2]"
    assert checked_content("plain", None, "content") == "plain"
    assert checked_content(None, strict, "content") is None
    cases = [
        ({"name": "A"}, strict, "content"),
        ({"name": "A", "age": 1, "x": 0}, strict, "content"),
        ({"name": "A", "age": 1.5}, strict, "content.age"),
        ("{nope", {"type": "json_object"}, "content"),
        ({"a": 1}, None, "content"),
    ]
    for content, output_format, param in cases:
        with pytest.raises(GatewayError) as caught:
            checked_content(content, output_format, "content")
        assert caught.value.status == 422 and caught.value.param == param, content


def test_choices_wanted():
    assert choices_wanted("chat.completions", {}) == 1
    assert choices_wanted("chat.completions", {"n": 4}) == 4
    assert choices_wanted("responses", {"n": 4}) == 1  # the Responses API has no n
    for bad in (0, -1, 129, True, "2", 1.0):
        with pytest.raises(GatewayError):
            choices_wanted("chat.completions", {"n": bad})
