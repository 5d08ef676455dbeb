"""The migration manifest: TOML in, frozen settings out, every problem named by file and key.

A manifest never holds a secret: credentials are named by environment variable
(`username_env = "NEXUS_USERNAME"`) and read from the environment when needed.
Everything is validated before any network call.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from migrator.errors import ConfigError, ManifestError
from migrator.models import Format
from migrator.topology import (  # the target's shape: topology, namespaces, prices
    KMS_RE,
    Namespace,
    Prices,
    TargetRepository,
    namespaces,
    prices,
    target_repositories,
)

SOURCE_KINDS = ("nexus", "artifactory")
MODES = ("copy", "prewarm", "skip")
SNAPSHOT_POLICIES = ("all", "latest", "none")
# block-upstream: migrated internal names get publish=ALLOW, upstream=BLOCK (dependency
# confusion protection; CodeArtifact's own default for a first internal version).
# leave: migrator never calls PutPackageOriginConfiguration.
ORIGIN_POLICIES = ("block-upstream", "leave")
DEFAULT_STATE_DIR = Path("state")
#: The spool's folder when `options.spool_dir` is not set: beside the state file.
DEFAULT_SPOOL_NAME = "spool"

# Patterns from the CodeArtifact API model (botocore service-2.json shapes).
_DOMAIN_RE = re.compile(r"[a-z][a-z0-9\-]{0,48}[a-z0-9]")
_ACCOUNT_RE = re.compile(r"[0-9]{12}")
_REPO_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{1,99}")
_REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_TOP_KEYS = ("source", "target", "repositories", "options", "namespaces")
# Strings of a manifest: no control characters (C0, DEL, C1), and a bound on their length.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MAX_STRING = 4096
_SOURCE_KEYS = ("kind", "url", "username_env", "password_env", "token_env", "verify_tls")
_TARGET_KEYS = ("domain", "domain_owner", "region", "profile", "endpoint_url", "kms_key",
                "repositories")
_REPO_KEYS = ("source", "target", "format", "mode", "include", "exclude", "stage")
_OPTION_KEYS = (
    "concurrency",
    "source_concurrency",
    "rate_budget",
    "snapshots",
    "origin_control",
    "max_attempts",
    "state_dir",
    "spool_dir",
    "generic_asset_name_map",
    # state for ephemeral runners (migrator.state.remote)
    "state_url",
    "state_checkpoint_seconds",
    "state_lease_seconds",
    "prices",
    # `migrator sync` and scoping by use and time
    "delete_policy",
    "sync_overlap_minutes",
    "downloaded_within_days",
    "published_after",
)
#: What a sync does with files deleted at the source: only report them. CodeArtifact versions
#: are immutable and consumers may have pinned them; deleting is an operator's decision.
DELETE_POLICIES = ("report",)
_STAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,62}")


@dataclass(frozen=True, kw_only=True)
class SourceSettings:
    """Where packages come from, and the names of the variables holding its credentials."""

    kind: str
    url: str
    username_env: str | None = None
    password_env: str | None = None
    token_env: str | None = None
    verify_tls: bool = True

    def env_names(self) -> tuple[str, ...]:
        return tuple(n for n in (self.username_env, self.password_env, self.token_env) if n)

    def credentials(
        self, environ: Mapping[str, str] | None = None
    ) -> tuple[str | None, str | None, str | None]:
        """(username, password, token) read from the environment at call time."""
        env = os.environ if environ is None else environ

        def get(name: str | None) -> str | None:
            return env.get(name) if name else None

        return get(self.username_env), get(self.password_env), get(self.token_env)


@dataclass(frozen=True, kw_only=True)
class TargetSettings:
    """The CodeArtifact domain that receives the packages."""

    domain: str
    domain_owner: str
    region: str
    profile: str | None = None
    endpoint_url: str | None = None
    #: `migrator target init`: the KMS key of a domain it creates (None: AWS's own key).
    kms_key: str | None = None
    #: `migrator target init`: the repositories the domain should hold (topology).
    repositories: tuple[TargetRepository, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RepositoryMapping:
    """One source repository and what to do with it."""

    source: str
    target: str | None
    format: Format | None = None
    mode: str = "copy"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    #: The wave: a number (1, 2, ...) or a name ("pilot"); `--stage` selects one.
    stage: int | str = 1

    def excludes(self, path: str) -> str | None:
        """The reason the include/exclude globs reject `path`, or None when it is wanted."""
        if self.include and not any(glob_match(g, path) for g in self.include):
            return f"not matched by include {list(self.include)}"
        for g in self.exclude:
            if glob_match(g, path):
                return f"matched by exclude {g!r}"
        return None


@dataclass(frozen=True, kw_only=True)
class Options:
    """How hard to push and which policies to apply."""

    concurrency: int = 8
    #: `concurrency = "auto"` (or no `concurrency` key): versions in flight follow Little's
    #: law from `concurrency`'s default up, so the rate budget is reached at any latency
    #: (migrator/pipeline/concurrency.py). A number: exactly that many.
    concurrency_auto: bool = True
    #: Downloads from the source at once (and repositories crawled at once). 8: a download
    #: spends most of its time waiting for the loop and the network, and 4 slots
    #: delivered fewer files per second than the write quota takes (bench/README.md).
    source_concurrency: int = 8
    rate_budget: float = 90.0
    snapshots: str = "all"
    origin_control: str = "block-upstream"
    max_attempts: int = 5
    #: Folder of the state file; relative: to the manifest's folder.
    state_dir: Path = DEFAULT_STATE_DIR
    #: Folder for downloads on their way to the target; None: `spool/` beside the state
    #: file. Relative: to the manifest's folder.
    spool_dir: Path | None = None
    #: Generic (raw) file names CodeArtifact refuses, mapped explicitly: (substring,
    #: replacement) pairs applied in order; empty: off, such files are excluded with the rule.
    generic_asset_name_map: tuple[tuple[str, str], ...] = ()
    #: The state on S3 (`s3://bucket/key.sqlite`) for runners without a disk of their own:
    #: restored at start, saved every `state_checkpoint_seconds` and at the end, and held
    #: with a lease object `<key>.lock` that is renewed while the run lives and that a
    #: successor may take over `state_lease_seconds` after the holder died. None: a file.
    state_url: str | None = None
    state_checkpoint_seconds: float = 60.0
    state_lease_seconds: float = 300.0
    #: Published CodeArtifact prices the plan's cost figures use (`[options.prices]`).
    prices: Prices = field(default_factory=Prices)
    #: `migrator sync`: files deleted at the source are reported, never propagated.
    delete_policy: str = "report"
    #: `migrator sync` on Artifactory lists files modified since the last sync's newest
    #: modification time minus this many minutes (clock skew, slow indexing).
    sync_overlap_minutes: int = 10
    #: Scoping by use: only versions with a file downloaded within this many days (None: all).
    downloaded_within_days: int | None = None
    #: Scoping by time: only versions with a file stored at the source on or after this
    #: date, `YYYY-MM-DD` (UTC) (None: all).
    published_after: str | None = None


_DEFAULTS = Options()  # each default is written once, in the fields above

# -- [prewarm]: public packages requested through the target's upstreams ----------------------
_TOP_KEYS += ("prewarm",)
_PREWARM_KEYS = ("lockfiles", "in_run", "targets")
PREWARM_FORMATS = ("npm", "pypi", "maven")


@dataclass(frozen=True, kw_only=True)
class PrewarmSettings:
    """`[prewarm]`: lockfiles whose public packages are requested through the target
    (`migrator prewarm`, and `migrator run` when `in_run`), and which target repository
    serves each format (default: the target of the manifest's pre-warm mapping of that
    format)."""

    #: Relative: to the manifest's folder.
    lockfiles: tuple[Path, ...] = ()
    in_run: bool = False
    #: (format, target repository) pairs.
    targets: tuple[tuple[str, str], ...] = ()

    def target_for(self, fmt: str) -> str | None:
        return dict(self.targets).get(fmt)


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """A validated manifest."""

    path: Path
    source: SourceSettings
    target: TargetSettings
    repositories: tuple[RepositoryMapping, ...]
    options: Options = field(default_factory=Options)
    prewarm: PrewarmSettings = field(default_factory=PrewarmSettings)
    text: str = ""
    #: `[[namespaces]]`: internal namespaces covered by a package group (dependency
    #: confusion protection for a whole scope / groupId / name prefix).
    namespaces: tuple[Namespace, ...] = ()
    #: The manifest's own folder (absolute, the folder's symlinks resolved, fixed when it is
    #: parsed): relative paths in the manifest are relative to it, whatever the working
    #: directory.
    folder: Path = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "folder", Path(self.path).absolute().parent.resolve())

    @property
    def location(self) -> Path:
        """The manifest's absolute path, as the state remembers it: parsing the stored copy
        under it gives the same `folder`, `state_path` and `spool_path`."""
        return self.folder / Path(self.path).name

    def resolve(self, path: Path) -> Path:
        """A path from the manifest: absolute as written, else relative to `folder`."""
        path = path.expanduser()
        return path if path.is_absolute() else Path(os.path.normpath(self.folder / path))

    @property
    def state_path(self) -> Path:
        """Default state file: `<state_dir>/<manifest stem>.sqlite`, `state_dir` relative
        to the manifest's folder (so the same manifest finds its state from anywhere)."""
        return self.resolve(self.options.state_dir) / f"{self.path.stem}.sqlite"

    def spool_path(self, state_path: Path) -> Path:
        """The spool's folder for a run on `state_path`: `options.spool_dir` (relative to
        the manifest's folder), else `spool/` beside the state file."""
        if self.options.spool_dir is not None:
            return self.resolve(self.options.spool_dir)
        return Path(state_path).absolute().parent / DEFAULT_SPOOL_NAME

    def mapping(self, source_repo: str) -> RepositoryMapping | None:
        for m in self.repositories:
            if m.source == source_repo:
                return m
        return None

    def missing_env(self, environ: Mapping[str, str] | None = None) -> list[str]:
        env = os.environ if environ is None else environ
        return [name for name in self.source.env_names() if not env.get(name)]

    def require_credentials(self, environ: Mapping[str, str] | None = None) -> None:
        """:raises ConfigError: an environment variable the manifest names is not set."""
        missing = self.missing_env(environ)
        if missing:
            raise ConfigError(
                f"{self.path}: source credentials: environment variable(s) "
                f"{', '.join(missing)} not set",
                hint=f"export {missing[0]}=... before running (the manifest names the "
                "variables; their values never go in the manifest)")


def parse_stage(value: int | str | None) -> int | str | None:
    """A `--stage` value as manifests hold it: digits are a number, anything else a name."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def stage_label(stages: Any) -> str:
    """The stages of a manifest for messages, numbers first, each once."""
    seen = {parse_stage(s) for s in stages}
    return ", ".join(str(s) for s in sorted(seen, key=lambda s: (isinstance(s, str), str(s)
                                                                 if isinstance(s, str) else s)))


_GLOB_CACHE: dict[str, re.Pattern[str]] = {}


def glob_match(pattern: str, path: str) -> bool:
    """Match a repository-relative path: `*` within one segment, `**` across segments."""
    rx = _GLOB_CACHE.get(pattern)
    if rx is None:
        out, i = [], 0
        while i < len(pattern):
            c = pattern[i]
            if pattern.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
                continue
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append({"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c)))
            i += 1
        rx = _GLOB_CACHE[pattern] = re.compile("".join(out) + r"\Z")
    return rx.match(path.lstrip("/")) is not None


def load_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read and validate a manifest file.

    :raises ManifestError: naming the file, the key, the problem and the fix.
    :raises ConfigError: when the file cannot be read at all.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{p}: no such manifest file",
            hint="give the path of a manifest TOML file; sample-manifests/ has examples",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the manifest: {exc}") from None
    return parse_manifest(text, p)


def parse_manifest(text: str, path: str | os.PathLike[str]) -> Manifest:
    """Validate a manifest's text; `path` names it in errors and gives the state's default
    name (a resumed run parses the copy `plan` stored in the state).

    :raises ManifestError: naming the file, the key, the problem and the fix.
    """
    p = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(
            str(p), "(syntax)", f"not valid TOML: {exc}", "fix the TOML syntax at that line"
        ) from None
    except RecursionError:  # tomllib recurses per nesting level: `a = [[[[...` thousands deep
        raise ManifestError(str(p), "(syntax)", "arrays or tables nested too deeply to read",
                            "a manifest nests a few levels; rewrite that value flat") from None
    return _Parser(str(p)).manifest(data, p, text)


class _Parser:
    def __init__(self, fname: str) -> None:
        self.fname = fname

    def fail(self, key: str, problem: str, fix: str) -> ManifestError:
        return ManifestError(self.fname, key, problem, fix)

    def table(self, data: Mapping[str, Any], key: str, *, required: bool = True) -> dict:
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(key, "missing table", f"add a [{key}] table")
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table", f"write it as [{key}] with keys below it")
        return value

    def known(self, data: Mapping[str, Any], prefix: str, allowed: tuple[str, ...]) -> None:
        for k in data:
            if k not in allowed:
                close = difflib.get_close_matches(k, allowed, n=1)
                fix = (f"did you mean {close[0]!r}?" if close
                       else f"allowed keys: {', '.join(allowed)}")
                raise self.fail(f"{prefix}{k}", "unknown key", fix)

    def string(
        self, data: Mapping[str, Any], key: str, where: str, *, required: bool = True,
        pattern: re.Pattern[str] | None = None, what: str = "", example: str = "",
    ) -> str | None:
        full = f"{where}.{key}" if where else key
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(full, "missing", f"add {key} = {example or '...'}")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(full, f"must be a non-empty string, got {value!r}",
                            f"write {key} = {example or '...'}")
        if _UNPRINTABLE.search(value) or len(value) > _MAX_STRING:
            # A name, URL, glob or path never holds these; echoed, they would drive the
            # terminal or fill it (the value is shown escaped and cut).
            raise self.fail(full, f"holds control characters or is longer than {_MAX_STRING} "
                            f"characters: {value[:60]!r}{'...' if len(value) > 60 else ''}",
                            f"write {key} = {example or '...'} in printable characters")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(full, f"{value!r} is not a valid {what}", f"use {what} like {example}")
        return value

    def choice(
        self, data: Mapping[str, Any], key: str, where: str, choices: tuple[str, ...], default: str
    ) -> str:
        value = data.get(key, default)
        if value not in choices:
            raise self.fail(f"{where}.{key}", f"{value!r} is not one of {', '.join(choices)}",
                            f"set {key} to one of: {', '.join(choices)}")
        return value

    def integer(
        self, data: Mapping[str, Any], key: str, where: str, default: int, lo: int, hi: int
    ) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(f"{where}.{key}", f"must be a whole number from {lo} to {hi}, "
                            f"got {value!r}", f"set {key} = {default} (or another value in range)")
        return value

    def url(self, value: str, key: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.fail(key, f"{value!r} is not an http(s) URL",
                            "write the server's base URL, e.g. https://nexus.example.com")
        if parts.username or parts.password:
            # Printing the value back would leak the credential it holds.
            raise self.fail(key, "the URL contains credentials",
                            "remove user:password@ from the URL; name environment variables "
                            "in username_env/password_env (or token_env) instead")
        return value.rstrip("/")

    def env_name(self, data: Mapping[str, Any], key: str, where: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        full = f"{where}.{key}"
        if not isinstance(value, str) or not _ENV_NAME_RE.fullmatch(value):
            raise self.fail(full, "must be the NAME of an environment variable",
                            f"write {key} = \"MY_VARIABLE\" and export the secret in it; "
                            "secrets never go in the manifest")
        return value

    def manifest(self, data: dict[str, Any], path: Path, text: str) -> Manifest:
        self.known(data, "", _TOP_KEYS)
        return Manifest(
            path=path,
            source=self.source(self.table(data, "source")),
            target=self.target(self.table(data, "target")),
            repositories=self.repositories(data.get("repositories")),
            options=self.options(self.table(data, "options", required=False)),
            prewarm=self.prewarm(self.table(data, "prewarm", required=False)),
            text=text,
            namespaces=namespaces(self, data.get("namespaces")),
        )

    def source(self, t: dict[str, Any]) -> SourceSettings:
        self.known(t, "source.", _SOURCE_KEYS)
        if "kind" not in t:
            raise self.fail("source.kind", "missing", 'add kind = "nexus" or kind = "artifactory"')
        kind = self.choice(t, "kind", "source", SOURCE_KINDS, "")
        url = self.url(self.string(t, "url", "source", example='"https://nexus.example.com"'),
                       "source.url")
        user = self.env_name(t, "username_env", "source")
        password = self.env_name(t, "password_env", "source")
        token = self.env_name(t, "token_env", "source")
        if bool(user) != bool(password):
            missing = "password_env" if user else "username_env"
            raise self.fail(f"source.{missing}", "missing (username_env and password_env go "
                            "together)", f"add {missing} = \"...\" or remove the other one")
        if token and kind == "nexus":
            raise self.fail("source.token_env", "Nexus authenticates with Basic credentials",
                            "use username_env/password_env for Nexus (a user token pair works)")
        verify = t.get("verify_tls", True)
        if not isinstance(verify, bool):
            raise self.fail("source.verify_tls", "must be true or false", "verify_tls = true")
        return SourceSettings(kind=kind, url=url, username_env=user, password_env=password,
                              token_env=token, verify_tls=verify)

    def target(self, t: dict[str, Any]) -> TargetSettings:
        self.known(t, "target.", _TARGET_KEYS)
        endpoint = self.string(t, "endpoint_url", "target", required=False)
        return TargetSettings(
            domain=self.string(t, "domain", "target", pattern=_DOMAIN_RE,
                               what="CodeArtifact domain name", example='"acme"'),
            domain_owner=self.string(t, "domain_owner", "target", pattern=_ACCOUNT_RE,
                                     what="12-digit AWS account id", example='"111122223333"'),
            region=self.string(t, "region", "target", pattern=_REGION_RE,
                               what="AWS region", example='"eu-west-1"'),
            profile=self.string(t, "profile", "target", required=False),
            endpoint_url=self.url(endpoint, "target.endpoint_url") if endpoint else None,
            kms_key=self.string(t, "kms_key", "target", required=False, pattern=KMS_RE,
                                what="KMS key ARN",
                                example='"arn:aws:kms:us-east-1:111122223333:key/..."'),
            repositories=target_repositories(self, t.get("repositories"), _REPO_RE),
        )

    def repositories(self, value: Any) -> tuple[RepositoryMapping, ...]:
        if not value:
            raise self.fail("repositories", "no repositories",
                            "add at least one [[repositories]] table with source and target")
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise self.fail("repositories", "must be an array of tables",
                            "write each mapping as a [[repositories]] table")
        out: list[RepositoryMapping] = []
        seen: set[str] = set()
        for i, r in enumerate(value):
            where = f"repositories[{i}]"
            self.known(r, f"{where}.", _REPO_KEYS)
            source = self.string(r, "source", where, example='"maven-releases"')
            if source in seen:
                raise self.fail(f"{where}.source", f"{source!r} is mapped twice",
                                "keep one [[repositories]] table per source repository")
            seen.add(source)
            mode = self.choice(r, "mode", where, MODES, "copy")
            target = self.string(r, "target", where, required=mode != "skip", pattern=_REPO_RE,
                                 what="CodeArtifact repository name", example='"maven-releases"')
            fmt = r.get("format")
            if fmt is not None:
                try:
                    fmt = Format.from_source(str(fmt))
                except ValueError:
                    raise self.fail(f"{where}.format", f"{fmt!r} is not supported",
                                    "use maven, npm, pypi or generic, or leave it out "
                                    "to take the source's format") from None
            globs: dict[str, tuple[str, ...]] = {}
            for key in ("include", "exclude"):
                g = r.get(key, [])
                if isinstance(g, str):
                    g = [g]
                if not isinstance(g, list) or not all(isinstance(x, str) and x for x in g):
                    raise self.fail(f"{where}.{key}", "must be a list of glob strings",
                                    f'write {key} = ["com/acme/**"]')
                for x in g:  # each glob as printable and bounded as every other string
                    self.string({key: x}, key, where, example='"com/acme/**"')
                globs[key] = tuple(g)
            out.append(RepositoryMapping(
                source=source, target=target, format=fmt, mode=mode,
                include=globs["include"], exclude=globs["exclude"],
                stage=self.stage(r, where),
            ))
        return tuple(out)

    def stage(self, r: Mapping[str, Any], where: str) -> int | str:
        """A wave: a whole number, or a name (letters, digits, `.`, `_`, `-`)."""
        value = r.get("stage", 1)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, str) and _STAGE_RE.fullmatch(value):
            return value
        return self.integer(r | {"stage": value}, "stage", where, 1, 0, 1000)

    def scoping(self, t: Mapping[str, Any]) -> dict[str, Any]:
        """`delete_policy`, `sync_overlap_minutes`, `downloaded_within_days`,
        `published_after`."""
        d = _DEFAULTS
        policy = t.get("delete_policy", d.delete_policy)
        if policy not in DELETE_POLICIES:
            raise self.fail("options.delete_policy", f"{policy!r} is not supported: only "
                            "'report' (CodeArtifact versions are immutable and consumers may "
                            "have pinned them, so migrator never deletes in the target)",
                            'set delete_policy = "report" (or leave it out); delete in '
                            "CodeArtifact by hand where you decide to")
        days = t.get("downloaded_within_days")
        if days is not None:
            days = self.integer(t, "downloaded_within_days", "options", 90, 1, 100_000)
        after = t.get("published_after")
        if after is not None:
            text = after.isoformat() if hasattr(after, "isoformat") else after
            try:
                after = date.fromisoformat(str(text)[:10]).isoformat()
            except ValueError:
                raise self.fail("options.published_after", f"{after!r} is not a date",
                                "write published_after = 2024-01-31 (UTC)") from None
        return {"delete_policy": policy,
                "sync_overlap_minutes": self.integer(t, "sync_overlap_minutes", "options",
                                                     d.sync_overlap_minutes, 0, 10_080),
                "downloaded_within_days": days, "published_after": after}

    def options(self, t: dict[str, Any]) -> Options:
        self.known(t, "options.", _OPTION_KEYS)
        budget = t.get("rate_budget", _DEFAULTS.rate_budget)
        if isinstance(budget, bool) or not isinstance(budget, int | float) or not (
            0 < budget <= 10_000
        ):
            raise self.fail("options.rate_budget", f"must be a number of writes per second "
                            f"above 0, got {budget!r}", "set rate_budget = 90 (CodeArtifact "
                            "allows 100 writes/s per account unless you raised the quota)")
        state_dir = t.get("state_dir", str(DEFAULT_STATE_DIR))
        if not isinstance(state_dir, str) or not state_dir:
            raise self.fail("options.state_dir", "must be a directory path",
                            'state_dir = "state" (relative to the manifest\'s folder)')
        spool_dir = t.get("spool_dir")
        if spool_dir is not None and (not isinstance(spool_dir, str) or not spool_dir):
            raise self.fail("options.spool_dir", "must be a directory path",
                            'spool_dir = "/var/tmp/migrator-spool" (relative paths: to the '
                            "manifest's folder), or leave it out for spool/ beside the state")
        names = t.get("generic_asset_name_map", {})
        if not isinstance(names, dict) or not all(
                isinstance(k, str) and k and isinstance(v, str) and "/" not in v
                for k, v in names.items()):
            raise self.fail("options.generic_asset_name_map",
                            "must be a table of non-empty text → replacement text (no '/')",
                            '[options.generic_asset_name_map] with ":" = "_" maps '
                            "`a:b.txt` to `a_b.txt`")
        concurrency_auto = t.get("concurrency", "auto") == "auto"
        if concurrency_auto:
            t = {k: v for k, v in t.items() if k != "concurrency"}
        d = _DEFAULTS
        state_url = t.get("state_url")
        if state_url is not None and (not isinstance(state_url, str)
                                      or not re.fullmatch(r"s3://[a-z0-9][a-z0-9.\-]{1,61}"
                                                          r"[a-z0-9]/\S+", state_url)):
            raise self.fail("options.state_url", f"{state_url!r} is not an s3://bucket/key URL",
                            'state_url = "s3://my-bucket/migrator/demo.sqlite", or leave it '
                            "out for a local state file")
        timings = {}
        for key, lo, hi in (("state_checkpoint_seconds", 1, 86_400),
                            ("state_lease_seconds", 1, 86_400)):
            value = t.get(key, getattr(d, key))
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    lo <= value <= hi):
                raise self.fail(f"options.{key}", f"must be a number of seconds from {lo} to "
                                f"{hi}, got {value!r}", f"set {key} = {getattr(d, key):g}")
            timings[key] = float(value)
        return Options(
            concurrency_auto=concurrency_auto,
            concurrency=self.integer(t, "concurrency", "options", d.concurrency, 1, 256),
            source_concurrency=self.integer(t, "source_concurrency", "options",
                                            d.source_concurrency, 1, 64),
            rate_budget=float(budget),
            snapshots=self.choice(t, "snapshots", "options", SNAPSHOT_POLICIES, d.snapshots),
            origin_control=self.choice(t, "origin_control", "options", ORIGIN_POLICIES,
                                       d.origin_control),
            max_attempts=self.integer(t, "max_attempts", "options", d.max_attempts, 1, 100),
            state_dir=Path(state_dir),
            spool_dir=Path(spool_dir) if spool_dir is not None else None,
            generic_asset_name_map=tuple(names.items()),
            state_url=state_url,
            **timings,
            prices=prices(self, t.get("prices")),
            **self.scoping(t),
        )

    def prewarm(self, t: dict[str, Any]) -> PrewarmSettings:
        self.known(t, "prewarm.", _PREWARM_KEYS)
        files = t.get("lockfiles", [])
        if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
            raise self.fail("prewarm.lockfiles", "must be a list of file paths",
                            'lockfiles = ["web/package-lock.json", "api/poetry.lock"] '
                            "(relative to the manifest's folder)")
        in_run = t.get("in_run", PrewarmSettings.in_run)
        if not isinstance(in_run, bool):
            raise self.fail("prewarm.in_run", f"must be true or false, got {in_run!r}",
                            "in_run = true makes `migrator run` pre-warm the lockfiles too")
        targets = t.get("targets", {})
        if not isinstance(targets, dict):
            raise self.fail("prewarm.targets", "must be a table of format = repository",
                            '[prewarm.targets] with npm = "npm-team"')
        for fmt in targets:
            if fmt not in PREWARM_FORMATS:
                raise self.fail(f"prewarm.targets.{fmt}", "not a format served by upstreams",
                                f"use one of: {', '.join(PREWARM_FORMATS)}")
            self.string(targets, fmt, "prewarm.targets", pattern=_REPO_RE,
                        what="CodeArtifact repository name", example='"npm-team"')
        return PrewarmSettings(lockfiles=tuple(Path(f) for f in files), in_run=in_run,
                               targets=tuple(sorted(targets.items())))
