"""Structured outputs: the JSON a request requires, and a person's content checked against it.

Chat Completions asks with ``response_format``, Responses with ``text.format``. Both
become one shape on the task: ``{"type": "json_object"}`` or ``{"type": "json_schema",
"name", "description", "schema", "strict"}``; plain text is ``None``. The client gets
the person's JSON as the message text, as a model would send it, and its SDK parses
that text itself, so only content that parses and fits may be sent.
"""

from __future__ import annotations

from typing import Any

import orjson
import regex
from jsonschema import Draft202012Validator, SchemaError
from jsonschema.validators import validator_for
from referencing.exceptions import Unresolvable

from gateway.errors import bad_request, unprocessable
from gateway.human.patterns import PatternTimeout, bounded_patterns
from gateway.human.schemas import schema_problem

# Keywords whose value is one subschema, a list of them, or a map of them.
_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains")
_LIST = ("anyOf", "oneOf", "allOf", "prefixItems")
_MAP = ("properties", "$defs", "definitions", "patternProperties")


def output_format_of(api: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """The output format a request asks for, or ``None`` for text; 400 when malformed."""
    if api == "chat.completions":
        declared = data.get("response_format")
        spec = declared.get("json_schema") if isinstance(declared, dict) else None
        spec_where = "response_format.json_schema"
    else:
        spec_where = "text.format"
        text = data.get("text")
        declared = text.get("format") if isinstance(text, dict) else None
        spec = declared
    if not isinstance(declared, dict):
        return None
    kind = declared.get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("schema", {}), dict):
        raise bad_request(
            f"Invalid '{spec_where}': expected an object with a 'schema'.", spec_where
        )
    schema = spec.get("schema") or {}
    problem = schema_problem(schema)  # so no task exists that no answer can fit
    if problem:
        raise bad_request(
            f"Invalid schema in '{spec_where}': it {problem}.", f"{spec_where}.schema"
        )
    return {
        "type": "json_schema",
        "name": spec.get("name"),
        "description": spec.get("description"),
        "schema": schema,
        "strict": spec.get("strict") is True,
    }


def checked_content(
    content: str | dict[str, Any] | list[Any] | None,
    output_format: dict[str, Any] | None,
    where: str,
) -> str | None:
    """The content as the client will receive it, once it fits the output format.

    Text requests take a string. JSON requests take a JSON string (sent as it is)
    or a JSON value (sent serialised); it must parse, and fit the schema if there
    is one, read with strict mode's rules when ``strict`` is true. Else a 422
    naming the field at fault.
    """
    if content is None:
        return None
    if output_format is None:
        if isinstance(content, str):
            return content
        raise unprocessable(
            f"{where}: this request asked for text, not JSON; send a string", param=where
        )
    if isinstance(content, str):
        try:
            value = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise unprocessable(
                f"{where}: the request asked for JSON ({_describe(output_format)}); "
                "this is not valid JSON",
                param=where,
            ) from None
        text = content
    else:
        value, text = content, orjson.dumps(content).decode()
    if output_format["type"] == "json_schema":
        schema = output_format["schema"]
        check_schema(value, strict_schema(schema) if output_format["strict"] else schema, where)
    return text


def check_schema(value: Any, schema: dict[str, Any], where: str) -> None:
    """Validate a value against a JSON Schema, naming the first failing field."""
    try:
        validator_cls = validator_for(schema, default=Draft202012Validator)
        with bounded_patterns():
            errors = sorted(validator_cls(schema).iter_errors(value), key=lambda e: list(e.path))
    except SchemaError as exc:
        raise unprocessable(f"{where}: the schema is invalid: {exc.message}") from None
    except PatternTimeout as exc:
        raise unprocessable(
            f"{where}: {exc}; the answer cannot be checked against it", param=where
        ) from None
    except (RecursionError, Unresolvable, regex.error):
        # Refused when the request came in; kept for tasks stored before that check.
        raise unprocessable(f"{where}: the schema cannot be used", param=where) from None
    if errors:
        error = errors[0]
        field = ".".join([where, *(str(part) for part in error.absolute_path)])
        raise unprocessable(f"{field}: {error.message}", param=field)


def strict_schema(schema: Any) -> Any:
    """The schema as strict mode reads it: every object closed, every property required."""
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = dict(schema)
    for key in _ONE:
        if isinstance(strict.get(key), dict):
            strict[key] = strict_schema(strict[key])
    for key in _LIST:
        if isinstance(strict.get(key), list):
            strict[key] = strict_schema(strict[key])
    for key in _MAP:
        if isinstance(strict.get(key), dict):
            strict[key] = {name: strict_schema(sub) for name, sub in strict[key].items()}
    properties = strict.get("properties")
    if strict.get("type") == "object" or isinstance(properties, dict):
        strict.setdefault("additionalProperties", False)
        if isinstance(properties, dict):
            strict["required"] = list(properties)
    return strict


def _describe(output_format: dict[str, Any]) -> str:
    if output_format["type"] == "json_object":
        return "json_object"
    name = output_format.get("name")
    return f"JSON matching the schema '{name}'" if name else "JSON matching the schema"
