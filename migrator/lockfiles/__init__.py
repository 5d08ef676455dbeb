"""Lockfile readers: the public packages a build resolved, as `LockedPackage` values.

One module per ecosystem (`npm`: package-lock.json / npm-shrinkwrap.json, pnpm-lock.yaml,
yarn.lock v1 and berry; `python`: requirements.txt, poetry.lock, uv.lock, pylock.toml;
`maven`: `mvn dependency:list` output, gradle.lockfile). Each parser reads one file with the
format's own parser library where one exists (JSON, TOML, YAML, `packaging`) and returns one
`LockedPackage` per file a client would download; `read_lockfiles` picks the parser by file
name and deduplicates across files (hashes of the same file are merged; two lockfiles naming
different hashes for one file is an error, since one of them is wrong).

Entries that do not come from a registry (workspace links, git, local paths, URLs) are left
out: an external connection can only serve what its public registry serves.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from migrator.errors import LockfileError
from migrator.models import HASH_ALGORITHMS, LockedPackage

__all__ = ["LockedPackage", "LockfileError", "detect", "read_lockfile", "read_lockfiles"]


def sri_hashes(integrity: str | None) -> dict[str, str]:
    """npm/pnpm/yarn `integrity` (Subresource Integrity: `sha512-<base64>`, several
    space-separated allowed) → `{"sha512": hex}`; unknown algorithms are dropped."""
    out: dict[str, str] = {}
    for token in (integrity or "").split():
        algo, sep, digest = token.partition("-")
        algo = algo.lower()
        if not sep or algo not in HASH_ALGORITHMS:
            continue
        try:
            out[algo] = base64.b64decode(digest.split("?", 1)[0], validate=True).hex()
        except ValueError:
            continue
    return out


def algo_hash(value: str) -> tuple[str, str] | None:
    """`sha256:HEX` (pip, Poetry, uv) → ("sha256", hex), or None for an unknown algorithm."""
    algo, sep, digest = value.partition(":")
    algo = algo.lower().replace("-", "")
    if not sep or algo not in HASH_ALGORITHMS or not digest:
        return None
    return algo, digest.lower()


Parser = Callable[[Path, str], list[LockedPackage]]


def _parsers() -> dict[str, Parser]:
    from migrator.lockfiles import maven, npm, python

    return {
        "package-lock.json": npm.parse_package_lock,
        "npm-shrinkwrap.json": npm.parse_package_lock,
        "pnpm-lock.yaml": npm.parse_pnpm_lock,
        "yarn.lock": npm.parse_yarn_lock,
        "requirements.txt": python.parse_requirements,
        "poetry.lock": python.parse_poetry_lock,
        "uv.lock": python.parse_uv_lock,
        "pylock.toml": python.parse_pylock,
        "gradle.lockfile": maven.parse_gradle_lockfile,
        "dependency-list.txt": maven.parse_dependency_list,
    }


KINDS = (
    "package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "yarn.lock",
    "requirements.txt", "poetry.lock", "uv.lock", "pylock.toml", "gradle.lockfile",
    "dependency-list.txt")


def detect(path: Path) -> str:
    """The lockfile kind of a file, from its name (`requirements-dev.txt` and
    `pylock.dev.toml` included, as their specifications name them); mvn's output is
    recognised by content."""
    name = path.name
    if name in KINDS:
        return name
    if name.startswith("requirements") and name.endswith(".txt"):
        return "requirements.txt"
    if name.startswith("pylock.") and name.endswith(".toml"):
        return "pylock.toml"  # PEP 751: pylock.<name>.toml
    if name.endswith(".lockfile") and name != "gradle.lockfile":
        return "gradle.lockfile"  # per-configuration lockfiles of older Gradle
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:20000]
    except OSError as exc:
        raise LockfileError(f"{path}: cannot be read: {exc.strerror}",
                            hint="check the path of the lockfile") from None
    if "The following files have been resolved:" in head:
        return "dependency-list.txt"
    raise LockfileError(
        f"{path}: not a lockfile migrator reads (by its name)",
        hint="name it as its tool does: " + ", ".join(KINDS[:-1]) + ", or pass the output "
        "of `mvn dependency:list -DoutputFile=FILE`")


def read_lockfile(path: Path) -> list[LockedPackage]:
    kind = detect(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LockfileError(f"{path}: cannot be read as UTF-8 text: {exc}",
                            hint="pass the lockfile exactly as its tool wrote it") from None
    return _parsers()[kind](path, text)


def merge(packages: Iterable[LockedPackage]) -> list[LockedPackage]:
    """Deduplicate by (format, namespace, name, version, file), merging hashes and the
    lockfiles that named each file; conflicting hashes are an error."""
    seen: dict[LockedPackage, LockedPackage] = {}
    for p in packages:
        have = seen.get(p)
        if have is None:
            seen[p] = p
            continue
        if not p.filename:
            # a pin without a file: the digests allowed by either lockfile
            union = {a: ",".join(sorted({*have.hashes.get(a, "").split(","),
                                         *p.hashes.get(a, "").split(",")} - {""}))
                     for a in {*have.hashes, *p.hashes}}
            seen[p] = LockedPackage(
                have.format, have.namespace, have.name, have.version, have.path, "",
                union, None, tuple(dict.fromkeys((*have.lockfiles, *p.lockfiles))))
            continue
        for algo, digest in p.hashes.items():
            if have.hashes.get(algo, digest) != digest:
                raise LockfileError(
                    f"{p.display} {p.filename}: {', '.join(have.lockfiles)} pins {algo} "
                    f"{have.hashes[algo]}, {', '.join(p.lockfiles)} pins {digest}",
                    hint="one of the lockfiles is stale or tampered with: regenerate it")
        seen[p] = LockedPackage(
            have.format, have.namespace, have.name, have.version, have.path, have.filename,
            {**have.hashes, **p.hashes}, have.resolved or p.resolved,
            tuple(dict.fromkeys((*have.lockfiles, *p.lockfiles))),
            have.optional and p.optional)
    return list(seen.values())


def read_lockfiles(paths: Sequence[Path]) -> list[LockedPackage]:
    """Every locked file of every lockfile, deduplicated, in a stable order."""
    out: list[LockedPackage] = []
    for path in paths:
        out.extend(read_lockfile(path))
    return sorted(merge(out), key=lambda p: (p.format, p.namespace, p.name, p.version,
                                            p.filename))
