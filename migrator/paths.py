"""Checks for paths taken from a source listing: they are untrusted input.

A path reported by Nexus or Artifactory is later joined to URLs, spool-file names and target
paths. A hostile or broken server could report `../../etc/passwd`, `%2e%2e/x`, `/abs`, a Windows
drive or a name with control characters. `check_path` returns the normalised relative path or
raises `UnsafePathError` whose message is the reason stored in the state for the refused row.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

from migrator.errors import UnsafePathError

__all__ = ["check_path", "display_path", "refusal_reason", "spool_name"]

_DRIVE = re.compile(r"^[A-Za-z]:")
# Percent-encodings that decode to something a path check must see: dots, slashes, backslash,
# NUL and other control characters. A literal '%' in a file name (rare but legal) is kept.
_DANGEROUS_ESCAPE = re.compile(r"%(?:2e|2f|5c|25|[01][0-9a-f]|7f)", re.IGNORECASE)
_MAX_LENGTH = 4096


def _control_chars(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def check_path(raw: object, *, strip_leading_slash: bool = False) -> str:
    """Return `raw` as a safe path relative to its repository root.

    `strip_leading_slash` drops exactly one leading '/' (Nexus SQL mode writes asset paths as
    `/com/acme/...`); any further leading '/' is still an absolute path and refused.

    :raises UnsafePathError: with the reason, when the path is empty, absolute, a drive path,
        contains backslashes, control characters, `.`/`..` or empty segments, or percent-encoded
        dots, slashes or control characters (encoded traversal).
    """
    if not isinstance(raw, str):
        raise UnsafePathError(f"path is not a string ({type(raw).__name__})")
    path = raw
    if strip_leading_slash and path.startswith("/"):
        path = path[1:]
    if not path:
        raise UnsafePathError("empty path")
    if len(path) > _MAX_LENGTH:
        raise UnsafePathError(f"path longer than {_MAX_LENGTH} characters")
    if _control_chars(path):
        raise UnsafePathError("control character in path")
    if path.startswith("/"):
        raise UnsafePathError("absolute path")
    if _DRIVE.match(path):
        raise UnsafePathError("Windows drive path")
    if "\\" in path:
        raise UnsafePathError("backslash in path")
    if _DANGEROUS_ESCAPE.search(path):
        decoded = unquote(unquote(path))
        if _control_chars(decoded):
            raise UnsafePathError("percent-encoded control character in path")
        if any(seg in (".", "..") for seg in re.split(r"[/\\]", decoded)):
            raise UnsafePathError("percent-encoded path traversal")
        raise UnsafePathError("percent-encoded path separator or dot")
    # One trailing '/' is how Nexus names directory-like assets (PyPI `simple/<name>/` pages).
    for segment in path.removesuffix("/").split("/"):
        if segment == "":
            raise UnsafePathError("empty path segment ('//')")
        # NFKC folds look-alikes such as FULLWIDTH FULL STOP into '.', which some tools decode.
        if unicodedata.normalize("NFKC", segment) in (".", ".."):
            raise UnsafePathError("path traversal ('.' or '..' segment)")
    return path


def refusal_reason(raw: object, *, strip_leading_slash: bool = False) -> str | None:
    """The reason `check_path` would refuse `raw`, or None when the path is safe."""
    try:
        check_path(raw, strip_leading_slash=strip_leading_slash)
    except UnsafePathError as exc:
        return f"unsafe path: {exc.message}"
    return None


def display_path(raw: object, *, limit: int = 512) -> str:
    """A printable, bounded rendering of an untrusted path for the state and reports.

    Control characters are shown as escapes so a hostile name cannot rewrite a terminal line.
    """
    text = raw if isinstance(raw, str) else repr(raw)
    out = "".join(
        ch if unicodedata.category(ch) != "Cc" else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )
    return out if len(out) <= limit else out[: limit - 1] + "…"


# Suffixes a spool file keeps from its source name: readers of wheel/sdist/egg metadata
# (pkginfo) choose the archive type from the path's suffix; everything else needs none.
_SPOOL_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".whl", ".zip", ".egg", ".jar",
                   ".pom", ".tar")


def spool_name(asset_id: int, filename: str) -> str:
    """The name of an asset's spool file: its id and a known suffix, never the source's name.

    A name from a listing may be 3,000 characters long (`File name too long`), hold bytes the
    spool's filesystem refuses, or collide with another after case folding; the spool is ours,
    so its names are too. The upload keeps the source's file name (publishers take it from
    the asset, not from the spool path)."""
    lower = filename.lower()
    suffix = next((s for s in _SPOOL_SUFFIXES if lower.endswith(s)), "")
    return f"a{asset_id}{suffix}"
