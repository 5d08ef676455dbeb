"""The yarn.lock v1 ("classic") syntax, which is neither JSON nor YAML.

Its grammar (yarn's `src/lockfile/parse.js`): `#` comment lines; a block starts with a line of
comma-separated keys ending in `:` at some indentation, its body indented by two more spaces;
a body line is `key value` where the value is a double-quoted JSON-style string, `true`,
`false`, a number or a bare word; keys may be quoted too. No mature Python parser of it is
maintained, so this is a small one for exactly that grammar, with its own tests.
"""

from __future__ import annotations

import json
from typing import Any


class YarnSyntaxError(ValueError):
    pass


def _unquote(token: str, line_no: int) -> str:
    if token.startswith('"'):
        try:
            value = json.loads(token)
        except json.JSONDecodeError:
            raise YarnSyntaxError(f"line {line_no}: bad string {token}") from None
        if not isinstance(value, str):
            raise YarnSyntaxError(f"line {line_no}: bad string {token}")
        return value
    return token


def _split_key(text: str, line_no: int) -> tuple[str, str]:
    """`"a b" rest` or `a rest` → (key, rest)."""
    if text.startswith('"'):
        i = 1
        while i < len(text):
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == '"':
                return _unquote(text[: i + 1], line_no), text[i + 1:].strip()
            i += 1
        raise YarnSyntaxError(f"line {line_no}: unterminated string")
    key, _, rest = text.partition(" ")
    return key, rest.strip()


def _value(token: str, line_no: int) -> Any:
    if token in ("true", "false"):
        return token == "true"
    if token.startswith('"'):
        return _unquote(token, line_no)
    try:
        return int(token)
    except ValueError:
        return token


def _block_keys(text: str, line_no: int) -> str:
    """`"@s/n@^1", n@~2:` → `@s/n@^1, n@~2` (each key unquoted)."""
    keys: list[str] = []
    rest = text.strip()
    while rest:
        if rest.startswith('"'):
            key, rest = _split_key(rest, line_no)
        else:
            key, comma, tail = rest.partition(",")
            key, rest = key.strip(), comma + tail
        keys.append(key)
        rest = rest.strip()
        if rest.startswith(","):
            rest = rest[1:].strip()
        elif rest:
            raise YarnSyntaxError(f"line {line_no}: expected ',' between keys")
    return ", ".join(keys)


def parse_yarn_v1(text: str) -> dict[str, Any]:
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    for line_no, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if indent % 2:
            raise YarnSyntaxError(f"line {line_no}: odd indentation")
        while stack and indent <= stack[-1][0]:
            stack.pop()
        if not stack:
            raise YarnSyntaxError(f"line {line_no}: bad indentation")
        parent = stack[-1][1]
        if stripped.endswith(":"):
            block: dict[str, Any] = {}
            parent[_block_keys(stripped[:-1], line_no)] = block
            stack.append((indent, block))
            continue
        key, rest = _split_key(stripped, line_no)
        if not rest:
            raise YarnSyntaxError(f"line {line_no}: {key!r} has no value")
        parent[key] = _value(rest, line_no)
    return root
