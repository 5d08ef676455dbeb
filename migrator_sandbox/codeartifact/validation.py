"""Request parsing and input validation driven by botocore's own CodeArtifact model (§11).

Real AWS answers `ValidationException` for values that break a shape's `required`, `min`,
`max`, `pattern` or `enum`; botocore checks only some of those on the client side, so the
emulator has to check all of them for a client with `parameter_validation=False` (or any
other SDK) to see the same errors as against AWS.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from .errors import Validation


@cache
def service_model() -> ServiceModel:
    # Same data as botocore.loaders.Loader().load_service_model('codeartifact', 'service-2').
    return botocore.session.get_session().get_service_model("codeartifact")


@cache
def routes() -> dict[tuple[str, str], str]:
    """(HTTP method, request URI) → operation name; all 48 pairs are unique in the model."""
    model = service_model()
    table = {}
    for name in model.operation_names:
        http = model.operation_model(name).http
        table[(http["method"], http["requestUri"])] = name
    return table


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch).startswith("C")


# Python's `re` has no \p{...} classes; the model uses four patterns that need them.
_UNICODE_PATTERNS = {
    r"\P{C}+": lambda s: bool(s) and not any(map(_is_control, s)),
    r"\P{C}*": lambda s: not any(map(_is_control, s)),
    r"[^\p{C}\p{IsWhitespace}]+": lambda s: bool(s)
    and not any(_is_control(c) or c.isspace() for c in s),
    r"[\P{C}\s]+": lambda s: bool(s) and all(not _is_control(c) or c.isspace() for c in s),
}


def matches(pattern: str, value: str) -> bool:
    special = _UNICODE_PATTERNS.get(pattern)
    if special is not None:
        return special(value)
    return re.fullmatch(pattern, value) is not None


def _fail(errors: list[str], value: object, where: str, constraint: str) -> None:
    errors.append(f"Value '{value}' at '{where}' failed to satisfy constraint: {constraint}")


def check(shape: Shape, value: object, where: str, errors: list[str]) -> None:
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            _fail(errors, value, where, "Member must be a structure")
            return
        for req in shape.required_members:
            if value.get(req) is None:
                _fail(errors, None, f"{where}.{req}".lstrip("."), "Member must not be null")
        for key, sub in value.items():
            if key in shape.members and sub is not None:
                check(shape.members[key], sub, f"{where}.{key}".lstrip("."), errors)
        return
    if kind == "list":
        if not isinstance(value, list):
            _fail(errors, value, where, "Member must be a list")
            return
        _check_size(meta, len(value), value, where, errors, "length")
        for i, item in enumerate(value):
            check(shape.member, item, f"{where}.{i + 1}.member", errors)
        return
    if kind == "map":
        if not isinstance(value, dict):
            _fail(errors, value, where, "Member must be a map")
            return
        for k, v in value.items():
            check(shape.key, k, f"{where}.key", errors)
            check(shape.value, v, f"{where}.{k}", errors)
        return
    if kind == "string":
        if not isinstance(value, str):
            _fail(errors, value, where, "Member must be a string")
            return
        _check_size(meta, len(value), value, where, errors, "length")
        if "pattern" in meta and not matches(meta["pattern"], value):
            _fail(errors, value, where,
                  f"Member must satisfy regular expression pattern: {meta['pattern']}")
        if shape.enum and value not in shape.enum:
            _fail(errors, value, where, f"Member must satisfy enum value set: {shape.enum}")
        return
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(errors, value, where, "Member must be a number")
            return
        _check_size(meta, value, value, where, errors, "value")
    if kind == "boolean" and not isinstance(value, bool):
        _fail(errors, value, where, "Member must be a boolean")


def _check_size(meta: dict, size: int, value: object, where: str, errors: list[str],
                what: str) -> None:
    if "min" in meta and size < meta["min"]:
        _fail(errors, value, where,
              f"Member must have {what} greater than or equal to {meta['min']}")
    if "max" in meta and size > meta["max"]:
        _fail(errors, value, where, f"Member must have {what} less than or equal to {meta['max']}")


def _convert(shape: Shape, raw: str, where: str) -> object:
    if shape.type_name in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise Validation(f"Cannot parse '{raw}' at '{where}' as a number",
                             reason="CANNOT_PARSE") from None
    if shape.type_name == "boolean":
        if raw.lower() not in ("true", "false"):
            raise Validation(f"Cannot parse '{raw}' at '{where}' as a boolean",
                             reason="CANNOT_PARSE")
        return raw.lower() == "true"
    return raw


def parse_input(op: OperationModel, query: dict[str, list[str]], headers: dict[str, str],
                body: bytes) -> dict:
    """Turn one HTTP request into the operation's input members, then validate them."""
    shape = op.input_shape
    params: dict = {}
    if shape is None:
        return params
    payload = shape.serialization.get("payload")
    json_body: dict = {}
    if payload is None and body.strip():
        try:
            json_body = json.loads(body)
        except ValueError:
            raise Validation("Could not parse request body into json",
                             reason="CANNOT_PARSE") from None
        if not isinstance(json_body, dict):
            raise Validation("Request body must be a JSON object", reason="CANNOT_PARSE")
    for name, member in shape.members.items():
        loc = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if loc == "querystring":
            values = query.get(wire)
            if values:
                if member.type_name == "list":
                    params[name] = values
                else:
                    params[name] = _convert(member, values[-1], name)
        elif loc == "header":
            if wire.lower() in headers:
                params[name] = _convert(member, headers[wire.lower()], name)
        elif name == payload:
            params[name] = body
        elif name in json_body:
            params[name] = json_body[name]
    errors: list[str] = []
    checked = {k: v for k, v in params.items() if k != payload}
    check(shape, {**checked, **({payload: b""} if payload in params else {})}, "", errors)
    if errors:
        head = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
        raise Validation(head + "; ".join(errors))
    return params
