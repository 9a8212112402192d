"""Client-declared JSON the gateway must be able to use: nesting depth and JSON Schemas.

A tool's parameters or an output format's schema is used later to check a
person's answer, so a schema that cannot check anything is refused when it
arrives; and every JSON the gateway walks is bounded in depth.
"""

from __future__ import annotations

from typing import Any

import regex
from jsonschema import SchemaError
from jsonschema.validators import Draft202012Validator, validator_for

from gateway.errors import GatewayError, bad_request

MAX_JSON_DEPTH = 64  # levels of nested objects and arrays in any JSON the gateway reads

JsonObject = dict[str, Any]


def json_too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether objects and arrays nest deeper than ``limit`` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict | list):
            continue
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def too_deep(what: str = "The request body") -> GatewayError:
    return bad_request(
        f"{what} nests objects and arrays deeper than {MAX_JSON_DEPTH} levels.",
        code="json_too_deep",
    )


def schema_problem(schema: JsonObject) -> str | None:
    """Why a declared JSON Schema cannot be used to check answers, or ``None``."""
    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as exc:
        return f"is not a valid JSON Schema: {exc.message}"
    except Exception:  # an unknown $schema, say
        return "is not a valid JSON Schema"
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        ref = node.get("$ref")
        if isinstance(ref, str):
            problem = _ref_problem(schema, ref)
            if problem:
                return problem
        patterns = [node.get("pattern"), *(node.get("patternProperties") or {})]
        for pattern in patterns:
            if isinstance(pattern, str):
                try:
                    regex.compile(pattern)
                except (regex.error, RecursionError, ValueError):
                    return f"has a pattern that is not a regular expression: {pattern!r}"
        stack.extend(node.values())
    return None


def _ref_problem(root: JsonObject, ref: str) -> str | None:
    """Only local references that resolve, and that do not only point at each other."""
    seen: set[str] = set()
    while True:
        if not ref.startswith("#/"):
            return f"may only use local '$ref's like '#/$defs/name', not {ref!r}"
        if ref in seen:
            return f"has a '$ref' cycle through {ref!r}"
        seen.add(ref)
        target: Any = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                return f"has a '$ref' that points nowhere: {ref!r}"
        if not isinstance(target, dict) or not isinstance(target.get("$ref"), str):
            return None
        ref = target["$ref"]
