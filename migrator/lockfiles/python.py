"""Python lockfiles: requirements.txt (pinned, with `--hash`), poetry.lock, uv.lock and
pylock.toml (PEP 751).

Names are PEP 503-normalised (`packaging.utils.canonicalize_name`), versions and file names
read with `packaging` (requirements, wheel and sdist file names), TOML with `tomllib`. A file
is identified by its name when the lockfile gives one (Poetry, uv, pylock); requirements.txt
pins a version and its hashes but no file, so those items carry `filename = ""` and the
pre-warm step picks, from the target's simple page, the files whose hash the lock allows.
"""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion

from migrator.errors import LockfileError
from migrator.lockfiles import LockedPackage, algo_hash
from migrator.models import HASH_ALGORITHMS, Format


def locked(name: str, version: str, filename: str, hashes: dict[str, str],
           resolved: str | None, lockfile: Path) -> LockedPackage:
    name = canonicalize_name(name)
    folder = f"packages/{name}/{version}"
    return LockedPackage(Format.PYPI, "", name, version,
                         f"{folder}/{filename}" if filename else f"{folder}/",
                         filename, hashes, resolved, (str(lockfile),))


def version_of_file(filename: str) -> str | None:
    """The version a wheel or sdist file name carries (None if it is neither)."""
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def _load_toml(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LockfileError(f"{path}: not valid TOML: {exc}",
                            hint="pass the file its tool wrote") from None


# -- requirements.txt --------------------------------------------------------------------------

def _logical_lines(text: str) -> list[tuple[int, str]]:
    """pip's rules: a trailing backslash joins lines; ` #` starts a comment."""
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = n
        if raw.endswith("\\"):
            buf += raw[:-1] + " "
            continue
        line = buf + raw
        buf = ""
        if line.lstrip().startswith("#"):
            continue
        cut = line.find(" #")
        line = (line[:cut] if cut >= 0 else line).strip()
        if line:
            out.append((start, line))
    if buf.strip():
        out.append((start, buf.strip()))
    return out


def parse_requirements(path: Path, text: str, _seen: set[Path] | None = None
                       ) -> list[LockedPackage]:
    seen = _seen if _seen is not None else set()
    seen.add(path.resolve())
    out: list[LockedPackage] = []
    for n, line in _logical_lines(text):
        where = f"{path}:{n}"
        try:
            tokens = shlex.split(line, posix=False)
        except ValueError as exc:
            raise LockfileError(f"{where}: {exc}", hint="fix the quoting") from None
        if tokens[0] in ("-r", "--requirement") or tokens[0].startswith("--requirement="):
            target = tokens[1] if len(tokens) > 1 and "=" not in tokens[0] else \
                tokens[0].partition("=")[2]
            included = (path.parent / target)
            if included.resolve() not in seen:
                try:
                    body = included.read_text(encoding="utf-8")
                except OSError as exc:
                    raise LockfileError(f"{where}: -r {target}: {exc.strerror}",
                                        hint="pass the included file beside it") from None
                out.extend(parse_requirements(included, body, seen))
            continue
        if tokens[0].startswith("-"):
            continue  # index options, -c constraints, -e editable installs: not pins
        req_tokens, hashes = [], {}
        rest = iter(tokens)
        for tok in rest:
            if tok.startswith("--hash"):
                value = tok.partition("=")[2] or next(rest, "")
                parsed = algo_hash(value)
                if parsed is None:
                    raise LockfileError(f"{where}: --hash {value!r} is not ALGORITHM:HEX",
                                        hint="regenerate with pip-compile --generate-hashes")
                # several allowed digests of one algorithm (one per file) are kept together
                hashes.setdefault(parsed[0], set()).add(parsed[1])
            elif tok.startswith("-"):
                continue  # per-requirement options such as --config-settings
            else:
                req_tokens.append(tok)
        try:
            req = Requirement(" ".join(req_tokens))
        except InvalidRequirement as exc:
            raise LockfileError(f"{where}: {exc}",
                                hint="use pip's requirement syntax: name==version") from None
        pins = [s for s in req.specifier if s.operator in ("==", "===")]
        if req.url or len(pins) != 1 or len(req.specifier) != 1 or "*" in pins[0].version:
            raise LockfileError(
                f"{where}: {req} is not pinned to one version",
                hint="pre-warming needs exact pins: generate the file with pip-compile "
                "(pip-tools), uv pip compile or pip freeze")
        out.append(_requirement_item(req.name, pins[0].version, hashes, path))
    return out


def _requirement_item(name: str, version: str, hashes: dict[str, set[str]], lockfile: Path
                      ) -> LockedPackage:
    # the allowed digests of every file of the pin, comma-joined per algorithm; the pre-warm
    # step matches each file the simple page lists against them
    joined = {a: ",".join(sorted(v)) for a, v in hashes.items() if a in HASH_ALGORITHMS}
    return locked(name, version, "", joined, None, lockfile)


# -- poetry.lock -------------------------------------------------------------------------------

def _file_hashes(value: str | None) -> dict[str, str]:
    parsed = algo_hash(value or "")
    return {parsed[0]: parsed[1]} if parsed else {}


def parse_poetry_lock(path: Path, text: str) -> list[LockedPackage]:
    doc = _load_toml(path, text)
    if "package" not in doc:
        raise LockfileError(f"{path}: no [[package]] tables: not a poetry.lock",
                            hint="pass the poetry.lock poetry lock wrote")
    legacy_files = (doc.get("metadata") or {}).get("files") or {}  # Poetry < 1.5
    out = []
    for pkg in doc["package"]:
        source = pkg.get("source") or {}
        if source.get("type") in ("git", "directory", "file", "url"):
            continue  # not from an index
        name, version = pkg["name"], pkg["version"]
        files = pkg.get("files") or legacy_files.get(name) or []
        if not files:
            out.append(locked(name, version, "", {}, None, path))
        for f in files:
            out.append(locked(name, version, f["file"], _file_hashes(f.get("hash")), None,
                              path))
    return out


# -- uv.lock -----------------------------------------------------------------------------------

def _url_file(url: str) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def parse_uv_lock(path: Path, text: str) -> list[LockedPackage]:
    doc = _load_toml(path, text)
    if "version" not in doc or "package" not in doc:
        raise LockfileError(f"{path}: no version / [[package]]: not a uv.lock",
                            hint="pass the uv.lock uv lock wrote")
    out = []
    for pkg in doc["package"]:
        if "registry" not in (pkg.get("source") or {}):
            continue  # the project itself, editables, git, paths, direct URLs
        dists = ([pkg["sdist"]] if pkg.get("sdist") else []) + list(pkg.get("wheels") or [])
        for d in dists:
            if not d.get("url"):
                continue  # a registry given as a local folder (`path`)
            out.append(locked(pkg["name"], pkg["version"], _url_file(d["url"]),
                              _file_hashes(d.get("hash")), d["url"], path))
    return out


# -- pylock.toml (PEP 751) ---------------------------------------------------------------------

def parse_pylock(path: Path, text: str) -> list[LockedPackage]:
    doc = _load_toml(path, text)
    lock_version = str(doc.get("lock-version", ""))
    if not lock_version.startswith("1."):
        raise LockfileError(f"{path}: lock-version {lock_version or 'missing'}: not a PEP 751 "
                            "lock file migrator reads (1.x)",
                            hint="pass a pylock.toml written by pip lock, uv or pdm")
    out = []
    for pkg in doc.get("packages") or []:
        dists = ([pkg["sdist"]] if pkg.get("sdist") else []) + list(pkg.get("wheels") or [])
        for d in dists:
            url = d.get("url")
            filename = d.get("name") or (_url_file(url) if url else "")
            if not filename:
                continue  # a local `path` only
            version = pkg.get("version") or version_of_file(filename)
            if not version:
                raise LockfileError(f"{path}: package {pkg.get('name')!r}: no version and "
                                    f"none in {filename}", hint="lock it again")
            hashes = {a.lower(): h.lower() for a, h in (d.get("hashes") or {}).items()
                      if a.lower() in HASH_ALGORITHMS}
            out.append(locked(pkg["name"], version, filename, hashes, url, path))
    return out
