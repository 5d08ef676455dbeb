"""The seed directory: the one input of the Nexus and Artifactory source emulators.

A seed is a folder of real package files plus `repos.toml` (format: sample-manifests/README.md):

    seed/
      repos.toml                         [[repository]] name/format/type/... per repository
      maven-releases/com/acme/app/1.0/app-1.0.jar
      npm-internal/@scope/name/-/name-1.0.0.tgz
      pypi-internal/packages/<name>/<version>/<file>.whl
      raw-files/any/path.txt

`load_seed(path)` reads it into a `Seed`: repositories in Nexus naming, each with its files, their
digests and the identity read from the bytes (Maven coordinates from the path; npm name/version
from `package.json` inside the tarball; PyPI name/version from the dist's own metadata). Maven
`maven-metadata.xml` files that the folder lacks are derived, as a repository manager would.
`SeedWatcher` re-reads the folder whenever a file or repos.toml changes, so tests can add or
replace files under a running emulator.
"""

from __future__ import annotations

import os
import threading
import time
import tomllib
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrator_sandbox import derive
from migrator_sandbox.errors import SeedError

FORMAT_ALIASES = {"maven2": "maven2", "maven": "maven2", "npm": "npm", "pypi": "pypi",
                  "raw": "raw", "generic": "raw"}
TYPE_ALIASES = {"hosted": "hosted", "local": "hosted", "proxy": "proxy", "remote": "proxy",
                "group": "group", "virtual": "group"}
SERVERS = ("nexus", "artifactory")
_KNOWN_KEYS = {"name", "server", "format", "type", "remote_url", "members", "version_policy",
               "dist_tags", "deprecated", "properties", "description", "downloaded"}


@dataclass(frozen=True, slots=True)
class SeedFile:
    """One file of a repository, with what the bytes say about it.

    `kind` is `artifact` (part of a package version), `sidecar` (a stored Maven checksum; a
    `.asc` signature is an artifact), `metadata` (maven-metadata.xml) or `other` (bytes we
    could not identify: still served and listed, never part of a component). `derived` files
    have no file on disk; their bytes are in `data`.
    """

    repo: str
    path: str  # relative, `/`-separated, no leading slash
    size: int
    mtime: float
    digests: dict[str, str]
    kind: str
    abspath: Path | None = None
    data: bytes | None = None
    maven: derive.MavenCoords | None = None
    npm: dict[str, Any] | None = None  # package.json of the tarball
    pypi: derive.PyDist | None = None

    @property
    def derived(self) -> bool:
        return self.abspath is None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def read_bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.abspath is not None
        return self.abspath.read_bytes()


@dataclass(slots=True)
class Repository:
    """One repository of the seed, in Nexus naming (`maven2`/`raw`, `hosted`/`proxy`/`group`).

    `server` is `nexus`, `artifactory` or None (served by both emulators). `dist_tags` maps an
    npm package name to {tag: version}; `deprecated` maps it to {version: message};
    `properties` maps a file path to extra Artifactory properties; `downloaded` maps a file
    path to when it was last downloaded (ISO-8601; Nexus `lastDownloaded`, Artifactory
    `stat.downloaded`; files not named were never downloaded).
    """

    name: str
    server: str | None
    format: str
    type: str
    remote_url: str | None = None
    members: list[str] = field(default_factory=list)
    version_policy: str | None = None
    description: str = ""
    dist_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    deprecated: dict[str, dict[str, str]] = field(default_factory=dict)
    properties: dict[str, dict[str, str]] = field(default_factory=dict)
    downloaded: dict[str, str] = field(default_factory=dict)
    files: list[SeedFile] = field(default_factory=list)
    _by_path: dict[str, SeedFile] | None = field(default=None, repr=False, compare=False)

    def file(self, path: str) -> SeedFile | None:
        if self._by_path is None or len(self._by_path) != len(self.files):
            self._by_path = {f.path: f for f in self.files}
        return self._by_path.get(path.lstrip("/"))

    def served_by(self, server: str) -> bool:
        return self.server is None or self.server == server


@dataclass(slots=True)
class Seed:
    root: Path
    repositories: list[Repository]

    def repository(self, name: str) -> Repository | None:
        for repo in self.repositories:
            if repo.name == name:
                return repo
        return None

    def for_server(self, server: str) -> list[Repository]:
        return [r for r in self.repositories if r.served_by(server)]


# ---- loading ------------------------------------------------------------------------------------

# Digests and identities of files already read, keyed by (path, size, mtime_ns): a reload after
# one file changed re-reads only that file.
_CACHE: dict[tuple[str, int, int], tuple[dict[str, str], Any]] = {}
_CACHE_LOCK = threading.Lock()


def load_seed(path: str | os.PathLike[str]) -> Seed:
    """Read `repos.toml` and every repository folder below `path`.

    Raises SeedError naming the file, the key and the fix when repos.toml is wrong.
    """
    root = Path(path)
    toml_path = root / "repos.toml"
    if not toml_path.is_file():
        raise SeedError(
            str(toml_path), None, "no repos.toml in the seed directory",
            "create it with one [[repository]] table per repository "
            "(see sample-manifests/README.md)",
        )
    try:
        doc = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SeedError(str(toml_path), "(syntax)", str(exc), "fix the TOML syntax") from exc
    repos = _parse_repositories(str(toml_path), doc)
    for repo in repos:
        if repo.type != "group":
            repo.files = _scan(root / repo.name, repo)
    return Seed(root=root, repositories=repos)


def _parse_repositories(where: str, doc: dict[str, Any]) -> list[Repository]:
    unknown_top = set(doc) - {"repository"}
    if unknown_top:
        key = sorted(unknown_top)[0]
        raise SeedError(where, key, "unknown top-level key",
                        "only [[repository]] tables belong in repos.toml")
    entries = doc.get("repository")
    if not isinstance(entries, list) or not entries:
        raise SeedError(where, "repository", "no [[repository]] tables",
                        'add at least one: [[repository]] name = "..." format = "..."')
    repos: list[Repository] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        at = f"repository[{i}]"

        def need_str(key: str, entry: dict[str, Any] = entry, at: str = at) -> str:
            value = entry.get(key)
            if not isinstance(value, str) or not value:
                raise SeedError(where, f"{at}.{key}", "missing or not a string",
                                f'set {key} = "..."')
            return value

        name = need_str("name")
        at = f"repository[{i}] ({name})"
        if "/" in name or name.startswith(".") or name in seen:
            problem = "duplicate name" if name in seen else "not a valid repository name"
            raise SeedError(where, f"{at}.name", problem,
                            "use a unique name without '/' that does not start with '.'")
        seen.add(name)
        for key in entry:
            if key not in _KNOWN_KEYS:
                raise SeedError(where, f"{at}.{key}", "unknown key",
                                f"use one of: {', '.join(sorted(_KNOWN_KEYS))}")
        fmt = need_str("format", at=at)
        if fmt.lower() not in FORMAT_ALIASES:
            raise SeedError(where, f"{at}.format", f"unsupported format {fmt!r}",
                            "use maven2 (or maven), npm, pypi, raw (or generic)")
        typ = need_str("type", at=at)
        if typ.lower() not in TYPE_ALIASES:
            raise SeedError(where, f"{at}.type", f"unknown type {typ!r}",
                            "use hosted (local), proxy (remote) or group (virtual)")
        server = entry.get("server")
        if server is not None and server not in SERVERS:
            raise SeedError(where, f"{at}.server", f"unknown server {server!r}",
                            'use "nexus" or "artifactory", or leave it out to serve on both')
        repo = Repository(
            name=name,
            server=server,
            format=FORMAT_ALIASES[fmt.lower()],
            type=TYPE_ALIASES[typ.lower()],
            description=str(entry.get("description", "")),
        )
        if repo.type == "proxy":
            repo.remote_url = need_str("remote_url", at=at)
        elif "remote_url" in entry:
            raise SeedError(where, f"{at}.remote_url", "only proxy repositories have one",
                            'remove it, or set type = "proxy"')
        if repo.type == "group":
            members = entry.get("members")
            if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                raise SeedError(where, f"{at}.members", "missing or not a list of names",
                                'set members = ["repo-a", "repo-b"]')
            repo.members = list(members)
        elif "members" in entry:
            raise SeedError(where, f"{at}.members", "only group repositories have members",
                            'remove it, or set type = "group"')
        policy = entry.get("version_policy")
        if policy is not None and policy not in ("RELEASE", "SNAPSHOT", "MIXED"):
            raise SeedError(where, f"{at}.version_policy", f"unknown policy {policy!r}",
                            "use RELEASE, SNAPSHOT or MIXED")
        repo.version_policy = policy
        for key in ("dist_tags", "deprecated", "properties"):
            table = entry.get(key, {})
            if not isinstance(table, dict) or not all(
                isinstance(v, dict) and all(isinstance(x, str) for x in v.values())
                for v in table.values()
            ):
                raise SeedError(where, f"{at}.{key}", "must be a table of tables of strings",
                                f'e.g. [repository.{key}."name"] key = "value"')
            if key in ("dist_tags", "deprecated") and table and repo.format != "npm":
                raise SeedError(where, f"{at}.{key}", "only npm repositories have it",
                                "remove it")
            setattr(repo, key, {k: dict(v) for k, v in table.items()})
        downloaded = entry.get("downloaded", {})
        if not isinstance(downloaded, dict) or not all(
                isinstance(v, str) and _iso_time(v) for v in downloaded.values()):
            raise SeedError(where, f"{at}.downloaded", "must be a table of path = ISO time",
                            '[repository.downloaded] "a/b.jar" = "2026-11-01T10:00:00Z"')
        repo.downloaded = dict(downloaded)
        repos.append(repo)
    by_name = {r.name: r for r in repos}
    for repo in repos:
        for member in repo.members:
            target = by_name.get(member)
            if target is None or target.format != repo.format or member == repo.name:
                raise SeedError(
                    where, f"repository ({repo.name}).members",
                    f"member {member!r} is not a {repo.format} repository of this seed",
                    "name repositories of the same format declared in this file",
                )
    return repos


def _iso_time(text: str) -> bool:
    from datetime import datetime

    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _safe_relpath(rel: str) -> bool:
    """Seed paths the emulators will list: no hidden parts, no control characters, no `..`."""
    parts = rel.split("/")
    return all(
        p and not p.startswith(".") and p not in ("..",) and all(ord(c) >= 32 for c in p)
        and "\\" not in p
        for p in parts
    )


def _scan(folder: Path, repo: Repository) -> list[SeedFile]:
    if not folder.is_dir():
        return []
    found: list[SeedFile] = []
    real_root = folder.resolve()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fname in sorted(filenames):
            abspath = Path(dirpath) / fname
            rel = abspath.relative_to(folder).as_posix()
            # A symlink may point outside the repository folder: never serve what it points at.
            if not _safe_relpath(rel) or not abspath.resolve().is_relative_to(real_root):
                continue
            st = abspath.stat()
            found.append(_identify(repo, rel, abspath, st.st_size, st.st_mtime_ns))
    if repo.format == "maven2":
        found += _derived_maven_metadata(repo, found)
    found.sort(key=lambda f: f.path)
    return found


def _identify(repo: Repository, rel: str, abspath: Path, size: int, mtime_ns: int) -> SeedFile:
    key = (str(abspath), size, mtime_ns)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is None:
        data = abspath.read_bytes()
        ident: Any = None
        if repo.format == "npm" and rel.endswith(".tgz"):
            ident = derive.npm_package_json(data)
        elif repo.format == "pypi":
            ident = derive.pypi_dist(rel.rsplit("/", 1)[-1], data)
        cached = (derive.digests(data), ident)
        with _CACHE_LOCK:
            _CACHE[key] = cached
    digests, ident = cached
    common = dict(repo=repo.name, path=rel, size=size, mtime=mtime_ns / 1e9,
                  digests=digests, abspath=abspath)
    if repo.format == "maven2":
        if rel.rsplit("/", 1)[-1].startswith("maven-metadata.xml"):
            kind = "metadata" if rel.endswith("maven-metadata.xml") else "sidecar"
            return SeedFile(kind=kind, **common)
        coords = derive.maven_coords(rel)
        if coords is None:
            return SeedFile(kind="other", **common)
        return SeedFile(kind="sidecar" if coords.is_sidecar else "artifact", maven=coords,
                        **common)
    if repo.format == "npm":
        return SeedFile(kind="artifact" if ident else "other", npm=ident, **common)
    if repo.format == "pypi":
        return SeedFile(kind="artifact" if ident else "other", pypi=ident, **common)
    return SeedFile(kind="artifact", **common)


def _derived_maven_metadata(repo: Repository, files: list[SeedFile]) -> list[SeedFile]:
    """maven-metadata.xml at GA level, and at GAV level for SNAPSHOTs, where the seed has none."""
    stored = {f.path for f in files if f.kind == "metadata"}
    by_ga: dict[tuple[str, str], list[SeedFile]] = defaultdict(list)
    for f in files:
        if f.maven is not None and f.kind == "artifact":
            by_ga[(f.maven.group_id, f.maven.artifact_id)].append(f)
    out: list[SeedFile] = []
    for (gid, aid), members in by_ga.items():
        ga_dir = f"{gid.replace('.', '/')}/{aid}"
        newest = max(m.mtime for m in members)
        path = f"{ga_dir}/maven-metadata.xml"
        if path not in stored:
            data = derive.maven_ga_metadata(
                gid, aid, [m.maven.base_version for m in members if m.maven], newest
            )
            out.append(_derived(repo, path, data, newest))
        snapshots: dict[str, list[SeedFile]] = defaultdict(list)
        for m in members:
            if m.maven and m.maven.base_version.endswith("-SNAPSHOT"):
                snapshots[m.maven.base_version].append(m)
        for base, snap_files in snapshots.items():
            path = f"{ga_dir}/{base}/maven-metadata.xml"
            if path not in stored:
                when = max(s.mtime for s in snap_files)
                data = derive.maven_snapshot_metadata(
                    gid, aid, base, [s.maven for s in snap_files if s.maven], when
                )
                out.append(_derived(repo, path, data, when))
    return out


def _derived(repo: Repository, path: str, data: bytes, mtime: float) -> SeedFile:
    return SeedFile(repo=repo.name, path=path, size=len(data), mtime=mtime,
                    digests=derive.digests(data), kind="metadata", data=data)


# ---- watching -----------------------------------------------------------------------------------


_PINNED: ContextVar[tuple[SeedWatcher, Seed] | None] = ContextVar("pinned_seed", default=None)


class SeedWatcher:
    """Hands out the current `Seed`, re-reading the folder when anything in it changed.

    The check is a stat walk (no reads); a changed file is re-hashed, unchanged ones come from
    the digest cache. So a file added or replaced while an emulator runs is in the very next
    listing. Inside `pinned()` (one HTTP request) the check runs once and every `current()`
    returns the same seed, so one response never mixes two versions of the folder.
    """

    def __init__(self, root: str | os.PathLike[str], *, min_interval: float = 0.0) -> None:
        self.root = Path(root)
        # Seconds between two stat walks; 0 checks on every request. The walk is O(files):
        # a large seed that does not change (a benchmark corpus) is served faster with 1.
        self.min_interval = min_interval
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self._fingerprint: tuple[Any, ...] | None = None
        self._seed: Seed | None = None
        self.reloads = 0
        self.current()  # fail fast on a bad repos.toml

    def _stat_walk(self) -> tuple[Any, ...]:
        entries = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for fname in sorted(filenames):
                p = os.path.join(dirpath, fname)
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                entries.append((p, st.st_size, st.st_mtime_ns, st.st_ino))
        return tuple(entries)

    @contextmanager
    def pinned(self) -> Iterator[Seed]:
        seed = self._check()
        token = _PINNED.set((self, seed))
        try:
            yield seed
        finally:
            _PINNED.reset(token)

    def current(self) -> Seed:
        pinned = _PINNED.get()
        if pinned is not None and pinned[0] is self:
            return pinned[1]
        return self._check()

    def _check(self) -> Seed:
        now = time.monotonic()
        if self._seed is not None and now - self._checked_at < self.min_interval:
            return self._seed
        self._checked_at = now
        fingerprint = self._stat_walk()
        with self._lock:
            if self._seed is None or fingerprint != self._fingerprint:
                self._seed = load_seed(self.root)
                self._fingerprint = fingerprint
                self.reloads += 1
            return self._seed
