"""Untrusted listing paths: every escape is refused with a reason, normal paths pass unchanged."""

from __future__ import annotations

import pytest

from migrator.errors import UnsafePathError
from migrator.paths import check_path, display_path, refusal_reason


@pytest.mark.parametrize(
    "path",
    [
        "com/acme/app/1.0/app-1.0.jar",
        "@scope/name/-/name-1.0.0.tgz",
        "packages/jaraco-classes/3.4.0/jaraco.classes-3.4.0.tar.gz",
        "docs/100% done.txt",  # a literal percent that decodes to nothing dangerous
        "a/..b/c..",  # dots inside names are fine
        "ünïcode/ファイル.txt",
        "simple/jaraco-classes/",  # Nexus PyPI index pages end with '/'
    ],
)
def test_safe_paths_pass_unchanged(path: str) -> None:
    assert check_path(path) == path


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../etc/passwd", "path traversal"),
        ("a/../../b", "path traversal"),
        ("a/./b", "path traversal"),
        ("/etc/passwd", "absolute path"),
        ("C:/Windows/win.ini", "Windows drive"),
        ("a\\..\\b", "backslash"),
        ("a/%2e%2e/b", "percent-encoded path traversal"),
        ("%252e%252e/x", "percent-encoded path traversal"),
        ("a%2fb", "percent-encoded path separator"),
        ("a/b%00.jar", "percent-encoded control character"),
        ("a/b\x00.jar", "control character"),
        ("a/b\n.jar", "control character"),
        ("a/\x1b[2Jb", "control character"),
        ("a//b", "empty path segment"),
        ("a/b//", "empty path segment"),
        ("/", "absolute path"),
        ("", "empty path"),
        ("a/\uff0e\uff0e/b", "path traversal"),  # fullwidth dots fold to '..' under NFKC
    ],
)
def test_hostile_paths_are_refused_with_a_reason(path: str, reason: str) -> None:
    with pytest.raises(UnsafePathError, match=reason):
        check_path(path)
    assert refusal_reason(path).startswith("unsafe path: ")


def test_one_leading_slash_is_stripped_only_when_asked() -> None:
    assert check_path("/com/acme/x.jar", strip_leading_slash=True) == "com/acme/x.jar"
    with pytest.raises(UnsafePathError, match="absolute"):
        check_path("//etc/passwd", strip_leading_slash=True)
    with pytest.raises(UnsafePathError, match="traversal"):
        check_path("/../x", strip_leading_slash=True)


def test_non_string_paths_are_refused() -> None:
    assert refusal_reason(None) == "unsafe path: path is not a string (NoneType)"
    assert refusal_reason(42) is not None


def test_display_path_escapes_control_characters_and_bounds_length() -> None:
    assert display_path("a\x1b[2Jb\n") == "a\\x1b[2Jb\\n"
    assert len(display_path("x" * 5000)) == 512
