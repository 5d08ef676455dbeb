"""Maven version ordering (`ComparableVersion`, Maven 3.9), for `latest` and `release`.

No maintained PyPI package implements the current rules: `univers` (and `pymaven-patch`,
where it comes from) follow the Maven 3.8 algorithm and disagree with Maven's own test table
on 44 cases (MNG-6964, MNG-7644, MNG-7714, the `release` alias). This is our implementation of
the documented behaviour, checked against the cases of Maven's `ComparableVersionTest`
(tests/formats/test_maven_version.py).

The model, as Maven documents it (POM reference, "Version Order Specification", and the
`ComparableVersion` class documentation):

- the lowercased version is split into items at `.`, at `-` and at transitions between
  (ASCII) digits and other characters; a `-` and a digit-to-letter transition open a nested
  list, so `1.0-beta-2` is `[1, 0, [beta-2]]`;
- a letter run directly followed by digits (`rc1`, `alpha-1` spelled with a hyphen too) is one
  *combination* item: its qualifier first, then its number;
- a qualifier at the very end after `.` counts as if it followed `-` (`1.0.0.RC1` sorts like
  `1.0.0-RC1`);
- qualifiers order as `alpha` (`a` before a digit) < `beta` (`b`) < `milestone` (`m`) <
  `rc` = `cr` < `snapshot` < `` = `ga` = `final` = `release` < `sp` < any other, the others
  alphabetically;
- "null" items (`0`, the empty qualifier, an empty list) are dropped from the end of each
  list, and before a qualifier or a list that starts with one (`1.0-a` is `1-a`);
- lists compare item by item, the shorter padded with nulls; an integer is greater than any
  qualifier or list, a list greater than a qualifier.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

__all__ = ["MavenVersion", "latest", "sort_versions"]

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}
_RELEASE_RANK = str(_QUALIFIERS.index(""))
_DIGITS = frozenset("0123456789")


class _Qualifier:
    __slots__ = ("rank", "value")

    def __init__(self, text: str, followed_by_digit: bool = False) -> None:
        self.value = text  # as written (lowercased): `ga` is not null, `` is
        if followed_by_digit and text in _SHORT:
            text = _SHORT[text]
        text = _ALIASES.get(text, text)
        self.rank = (str(_QUALIFIERS.index(text)) if text in _QUALIFIERS
                     else f"{len(_QUALIFIERS)}-{text}")

    def is_null(self) -> bool:
        return self.value == ""


class _Combination:
    __slots__ = ("number", "qualifier")

    def __init__(self, text: str) -> None:
        cut = next(i for i, c in enumerate(text) if c in _DIGITS)
        self.qualifier = _Qualifier(text[:cut], followed_by_digit=True)
        self.number = int(text[cut:])

    def is_null(self) -> bool:
        return False


_Item = int | _Qualifier | _Combination | list


def _is_null(item: _Item) -> bool:
    if isinstance(item, int):
        return item == 0
    if isinstance(item, list):
        return not item
    return item.is_null()


def _sign(n: int | str, m: int | str) -> int:
    return (n > m) - (n < m)  # type: ignore[operator]


def _compare(a: _Item, b: _Item | None) -> int:
    """<0, 0, >0 as `a` sorts before, with or after `b` (None: a padding null)."""
    if isinstance(a, int):
        if b is None:
            return 0 if a == 0 else 1
        return _sign(a, b) if isinstance(b, int) else 1
    if isinstance(a, _Qualifier):
        if b is None:
            return _sign(a.rank, _RELEASE_RANK)
        if isinstance(b, _Qualifier):
            return _sign(a.rank, b.rank)
        if isinstance(b, _Combination):
            return _sign(a.rank, b.qualifier.rank) or -1
        return -1  # a qualifier sorts before a number and a list
    if isinstance(a, _Combination):
        if b is None:
            return _sign(a.qualifier.rank, _RELEASE_RANK)
        if isinstance(b, _Combination):
            return _sign(a.qualifier.rank, b.qualifier.rank) or _sign(a.number, b.number)
        if isinstance(b, _Qualifier):
            return _sign(a.qualifier.rank, b.rank) or 1
        return -1  # before a number and a list
    # a list
    if b is None:
        for item in a:
            result = _compare(item, None)
            if result:
                return result
        return 0
    if isinstance(b, int):
        return -1
    if isinstance(b, _Qualifier | _Combination):
        return 1
    for i in range(max(len(a), len(b))):
        left = a[i] if i < len(a) else None
        right = b[i] if i < len(b) else None
        result = -_compare(right, None) if left is None else _compare(left, right)  # type: ignore[arg-type]
        if result:
            return result
    return 0


def _token(text: str, combination: bool, digits: bool) -> _Item:
    if combination:
        return _Combination(text)
    if digits:
        return int(text)
    return _Qualifier(text)


def _normalize(items: list) -> None:
    """Drop null items at the end, and before a qualifier or a list that starts with one."""
    i = len(items) - 1
    while i >= 0:
        if _is_null(items[i]):
            nxt = items[i + 1] if i + 1 < len(items) else None
            if nxt is None or isinstance(nxt, _Qualifier) or (
                    isinstance(nxt, list) and nxt
                    and isinstance(nxt[0], _Qualifier | _Combination)):
                del items[i]
        i -= 1


def _parse(version: str) -> list:
    text = version.lower()
    top: list = []
    current, opened = top, [top]
    digits = combination = False
    buf = ""

    def push() -> None:
        nonlocal current
        sub: list = []
        current.append(sub)
        current = sub
        opened.append(sub)

    for i, c in enumerate(text):
        if c == ".":
            current.append(_token(buf, combination, digits) if buf else 0)
            buf, combination = "", False
        elif c == "-":
            if buf and not digits and i + 1 < len(text) and text[i + 1] in _DIGITS:
                combination = True  # `alpha-1` reads as `alpha1`
                continue
            current.append(_token(buf, combination, digits) if buf else 0)
            buf, combination = "", False
            push()
        elif c in _DIGITS:
            if not digits and buf:
                combination = True
                if current:
                    push()
            digits = True
            buf += c
        else:
            if digits and buf:
                current.append(_token(buf, combination, True))
                buf, combination = "", False
                push()
            digits = False
            buf += c
    if buf:
        if not digits and current:
            push()  # `1.0.0.X1` sorts like `1.0.0-X1`
        current.append(_token(buf, combination, digits))
    for items in reversed(opened):
        _normalize(items)
    return top


@functools.total_ordering
class MavenVersion:
    """A version string with Maven's order (`==` here means "sorts the same")."""

    __slots__ = ("_items", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._items = _parse(text)

    def _cmp(self, other: object) -> int:
        if not isinstance(other, MavenVersion):
            other = MavenVersion(str(other))
        return _compare(self._items, other._items)

    def __eq__(self, other: object) -> bool:
        return self._cmp(other) == 0

    def __lt__(self, other: object) -> bool:
        return self._cmp(other) < 0

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"MavenVersion({self.text!r})"


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Distinct versions, oldest first by Maven's order (ties keep their first spelling)."""
    unique = list(dict.fromkeys(versions))
    return sorted(unique, key=MavenVersion)


def latest(versions: Iterable[str]) -> str | None:
    """The greatest version by Maven's order, or None."""
    ordered = sort_versions(versions)
    return ordered[-1] if ordered else None
