"""npm lockfiles: package-lock.json / npm-shrinkwrap.json (lockfileVersion 2 and 3),
pnpm-lock.yaml (v5, v6, v9) and yarn.lock (classic v1 and berry).

Each entry becomes the registry tarball `name/-/base-version.tgz` (CodeArtifact's npm
endpoint serves it under that path), with the lockfile's `integrity` as hashes. Yarn berry's
`checksum` is the hash of Yarn's own zip cache entry, not of the tarball, so it is not kept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from migrator.errors import LockfileError
from migrator.lockfiles import LockedPackage, sri_hashes
from migrator.lockfiles.yarn_v1 import YarnSyntaxError, parse_yarn_v1
from migrator.models import Format


def locked(name: str, version: str, integrity: str | None, resolved: str | None,
           lockfile: Path) -> LockedPackage:
    scope, _, base = name[1:].partition("/") if name.startswith("@") else ("", "", name)
    prefix = f"@{scope}/{base}" if scope else base
    filename = f"{base}-{version}.tgz"
    hashes = sri_hashes(integrity)
    if resolved and "#" in resolved and "sha1" not in hashes:
        # yarn v1 and old npm put the tarball's SHA-1 in the fragment of `resolved`
        fragment = resolved.rsplit("#", 1)[1]
        if len(fragment) == 40 and all(c in "0123456789abcdef" for c in fragment.lower()):
            hashes["sha1"] = fragment.lower()
    return LockedPackage(Format.NPM, scope, base, version, f"{prefix}/-/{filename}", filename,
                         hashes, resolved, (str(lockfile),))


def _from_registry(resolved: str | None) -> bool:
    """Whether a `resolved` value names a registry tarball (not git, a folder or a file)."""
    if not resolved:
        return True  # omit-lockfile-registry-resolved: registry entries carry no URL
    return resolved.startswith(("http://", "https://")) and ".tgz" in resolved


# -- package-lock.json / npm-shrinkwrap.json ---------------------------------------------------

def parse_package_lock(path: Path, text: str) -> list[LockedPackage]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LockfileError(f"{path}: not valid JSON: {exc}",
                            hint="pass the file npm wrote") from None
    version = doc.get("lockfileVersion") if isinstance(doc, dict) else None
    if version not in (2, 3) or not isinstance(doc.get("packages"), dict):
        raise LockfileError(
            f"{path}: lockfileVersion {version!r} is not read (only 2 and 3 have the "
            "`packages` map)", hint="regenerate it with npm 7 or later: npm install "
            "--package-lock-only")
    out = []
    for key, entry in doc["packages"].items():
        if not key or not isinstance(entry, dict) or entry.get("link"):
            continue  # the root project, or a workspace link
        if entry.get("inBundle"):
            continue  # shipped inside its parent's tarball, never fetched by itself
        if "node_modules/" not in key or not entry.get("version"):
            continue  # a workspace folder: not from a registry
        if not _from_registry(entry.get("resolved")):
            continue
        # an alias (`"x": "npm:real@1"`) records the real name in `name`
        name = entry.get("name") or key.rsplit("node_modules/", 1)[1]
        out.append(locked(name, entry["version"], entry.get("integrity"),
                          entry.get("resolved"), path))
    return out


# -- pnpm-lock.yaml ----------------------------------------------------------------------------

def _pnpm_key(key: str, lockfile_version: str) -> tuple[str, str] | None:
    """`/ms@2.1.3`, `ms@2.1.3`, `/@s/n@1.0.0(peer@1)` (v6, v9) or `/ms/2.1.3` (v5) →
    (name, version)."""
    key = key.lstrip("/")
    key = key.split("(", 1)[0]  # peer-dependency suffix
    if lockfile_version.startswith("5"):
        key = key.split("_", 1)[0]  # v5 peer suffix
        name, sep, version = key.rpartition("/")
    else:
        name, sep, version = key.rpartition("@")
    if not sep or not name or not version:
        return None
    return name, version


def parse_pnpm_lock(path: Path, text: str) -> list[LockedPackage]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LockfileError(f"{path}: not valid YAML: {exc}",
                            hint="pass the file pnpm wrote") from None
    if not isinstance(doc, dict) or "lockfileVersion" not in doc:
        raise LockfileError(f"{path}: no lockfileVersion: not a pnpm lockfile",
                            hint="pass the pnpm-lock.yaml pnpm wrote")
    lv = str(doc["lockfileVersion"])
    out = []
    for key, entry in (doc.get("packages") or {}).items():
        entry = entry or {}
        resolution = entry.get("resolution") or {}
        if resolution.get("type") or (resolution.get("tarball") and
                                      not _from_registry(resolution["tarball"])):
            continue  # git, directory or local tarball
        parsed = _pnpm_key(str(key), lv)
        if parsed is None:
            raise LockfileError(f"{path}: packages key {key!r} is not name@version",
                                hint="regenerate the lockfile with pnpm install")
        name, version = entry.get("name") or parsed[0], entry.get("version") or parsed[1]
        if version.startswith(("link:", "file:")):
            continue
        out.append(locked(name, version, resolution.get("integrity"),
                          resolution.get("tarball"), path))
    return out


# -- yarn.lock ---------------------------------------------------------------------------------

def _spec_name(spec: str) -> str:
    """`@s/n@^1.0.0`, `n@npm:^1` or `alias@npm:real@^1` → the registry name."""
    name, _, rng = spec[1:].partition("@")
    name = spec[0] + name
    if rng.startswith("npm:") and "@" in rng[5:]:
        real = rng[4:]
        return real[0] + real[1:].partition("@")[0]
    return name


def parse_yarn_lock(path: Path, text: str) -> list[LockedPackage]:
    if "__metadata:" in text:
        return _parse_berry(path, text)
    try:
        doc = parse_yarn_v1(text)
    except YarnSyntaxError as exc:
        raise LockfileError(f"{path}: {exc}", hint="pass the yarn.lock yarn wrote") from None
    out = []
    for specs, entry in doc.items():
        if not isinstance(entry, dict) or "version" not in entry:
            continue
        if not _from_registry(entry.get("resolved")):
            continue
        first = specs.split(",")[0].strip()
        out.append(locked(_spec_name(first), entry["version"], entry.get("integrity"),
                          entry.get("resolved"), path))
    return out


def _parse_berry(path: Path, text: str) -> list[LockedPackage]:
    try:
        doc: dict[str, Any] = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LockfileError(f"{path}: not valid YAML: {exc}",
                            hint="pass the yarn.lock yarn wrote") from None
    out = []
    for key, entry in doc.items():
        if key == "__metadata" or not isinstance(entry, dict):
            continue
        resolution = str(entry.get("resolution") or "")
        name, sep, ref = resolution[1:].partition("@")
        name = resolution[:1] + name
        if not sep or not ref.startswith("npm:"):
            continue  # workspace:, patch:, git, file: not from the registry
        out.append(locked(name, ref[4:], None, None, path))
    return out
