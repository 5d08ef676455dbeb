"""Value objects shared by crawlers, the work queue and publishers."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HASH_ALGORITHMS = ("md5", "sha1", "sha256", "sha512")


def human_bytes(n: float) -> str:
    """`512 B`, `1.5 KiB`, `3.2 GiB`: a byte count for people."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


class Format(enum.StrEnum):
    """Package formats, named as CodeArtifact names them."""

    MAVEN = "maven"
    NPM = "npm"
    PYPI = "pypi"
    GENERIC = "generic"

    @classmethod
    def from_source(cls, name: str) -> Format:
        """Map a Nexus/Artifactory format name (`maven2`, `raw`, `generic`, ...) to ours."""
        aliases = {
            "maven2": cls.MAVEN,
            "maven": cls.MAVEN,
            "gradle": cls.MAVEN,
            "npm": cls.NPM,
            "pypi": cls.PYPI,
            "raw": cls.GENERIC,
            "generic": cls.GENERIC,
        }
        try:
            return aliases[name.lower()]
        except KeyError:
            raise ValueError(f"unsupported package format {name!r}") from None


class RepoType(enum.StrEnum):
    """What a source repository holds: first-party files, a public cache, or a view."""

    HOSTED = "hosted"  # Nexus hosted, Artifactory local: migrated by copy
    PROXY = "proxy"  # Nexus proxy, Artifactory remote cache: pre-warmed
    GROUP = "group"  # Nexus group, Artifactory virtual: only repeats members, skipped

    @classmethod
    def from_source(cls, name: str) -> RepoType:
        aliases = {
            "hosted": cls.HOSTED,
            "local": cls.HOSTED,
            "proxy": cls.PROXY,
            "remote": cls.PROXY,
            "group": cls.GROUP,
            "virtual": cls.GROUP,
        }
        try:
            return aliases[name.lower()]
        except KeyError:
            raise ValueError(f"unknown repository type {name!r}") from None


@dataclass(frozen=True, slots=True)
class Coordinates:
    """The package version an asset belongs to, as CodeArtifact identifies it.

    `namespace` is the Maven groupId, the npm scope without `@`, the generic namespace, or
    "" (PyPI, unscoped npm). `package` is the artifactId / npm name / PEP 503-normalised
    PyPI name / generic package. `extra` holds format details: Maven classifier, extension,
    base_version and snapshot timestamp/build; PyPI filetype; npm original name.
    """

    format: Format
    namespace: str
    package: str
    version: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def display(self) -> str:
        ns = f"{self.namespace}:" if self.format is Format.MAVEN else (
            f"@{self.namespace}/" if self.namespace and self.format is Format.NPM else
            (f"{self.namespace}/" if self.namespace else "")
        )
        return f"{ns}{self.package}@{self.version}"


class AssetKind(enum.StrEnum):
    """How a file found in a listing is treated."""

    ARTIFACT = "artifact"  # migrated
    METADATA = "metadata"  # maven-metadata.xml, packuments, index pages: regenerated, not copied
    CHECKSUM = "checksum"  # .md5/.sha1/... sidecars: CodeArtifact computes its own


@dataclass(frozen=True, slots=True)
class DiscoveredAsset:
    """One file a crawler found in a source repository.

    `path` is relative to the repository root, already checked by `migrator.paths`.
    `checksums` holds what the source reported (lowercase hex), possibly nothing.
    `coordinates` is None when the asset was refused; `refused` then says why.
    """

    path: str
    size: int | None
    checksums: dict[str, str]
    coordinates: Coordinates | None
    kind: AssetKind = AssetKind.ARTIFACT
    last_modified: str | None = None
    refused: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    #: When the source last served the file (Nexus `lastDownloaded`, Artifactory
    #: `stat.downloaded`) and when it was stored there, as ISO-8601 UTC text; None: unknown.
    #: Read for scoping by use and time.
    last_downloaded: str | None = None
    created: str | None = None

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class SourceRepository:
    """A repository as the source server describes it."""

    name: str
    format: Format
    type: RepoType
    url: str | None = None  # remote URL of a proxy/remote repository
    members: tuple[str, ...] = ()  # group/virtual members


# -- work items: a claimed package version and the facts recorded about it ------------------


@dataclass(slots=True)
class ClaimedAsset:
    id: int
    path: str
    filename: str
    kind: str
    size: int | None
    status: str
    source_hashes: dict[str, str]
    downloaded_hashes: dict[str, str]
    target_hashes: dict[str, str]
    extra: dict[str, Any]


@dataclass(slots=True)
class ClaimedVersion:
    """A leased package version with every asset it has."""

    id: int
    repository_id: int
    source_repository: str
    target_repository: str | None
    mode: str
    format: Format
    namespace: str
    package: str
    version: str
    claimed_from: str
    attempts: int
    extra: dict[str, Any]
    assets: list[ClaimedAsset] = field(default_factory=list)

    @property
    def display(self) -> str:
        """`repository: group:artifact@version`, `repository: @scope/name@version`, ..."""
        c = Coordinates(self.format, self.namespace, self.package, self.version)
        return f"{self.source_repository}: {c.display}"


@dataclass(frozen=True, slots=True)
class AssetUpdate:
    """A fact about one asset, recorded once it is true."""

    asset_id: int
    status: str
    reason: str | None = None
    downloaded: dict[str, str] | None = None
    target: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class VersionResult:
    """The end of one claim: the version's new status and its assets' last facts."""

    version_id: int
    status: str
    reason: str | None = None
    retry_at: float | None = None
    assets: Sequence[AssetUpdate] = ()


# -- what a publisher and the target report ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpooledFile:
    """A source file downloaded to local disk, with the hashes of exactly these bytes."""

    asset: ClaimedAsset
    path: Path
    size: int
    hashes: Mapping[str, str]  # md5, sha1, sha256, sha512 (lowercase hex) of the spool file


class AssetOutcome(enum.StrEnum):
    """What the target said about one asset."""

    PUBLISHED = "published"  # our bytes were accepted
    IDENTICAL = "skipped_identical"  # it was already there, byte for byte (a 409 resolved)
    CONFLICT = "conflict"  # the target holds different bytes under that name: never replaced


@dataclass(frozen=True, slots=True)
class AssetResult:
    """One asset's outcome, reported by a publisher once it is true."""

    asset_id: int
    outcome: AssetOutcome
    reason: str | None = None  # for conflicts: both hashes
    target_hashes: Mapping[str, str] | None = None


Report = Callable[[AssetResult], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class VersionCheck:
    """What CodeArtifact reports about a package version (DescribePackageVersion +
    ListPackageVersionAssets), for verification."""

    status: str | None  # Published, Unfinished, Unlisted, ... ; None when the version is absent
    origin: str | None  # INTERNAL | EXTERNAL
    assets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # asset name -> {"size": int, "md5": ..., "sha1": ..., "sha256": ..., "sha512": ...}


# -- preflight ---------------------------------------------------------------------------------


class CheckStatus(enum.StrEnum):
    """How one preflight check came out."""

    OK = "ok"
    WARNING = "warning"  # worth knowing; the run can go ahead
    FAILURE = "failure"  # the run cannot succeed until someone fixes it


@dataclass(frozen=True, slots=True)
class Check:
    """One line of a preflight: which system, which object, and a message that names the fix
    (for warnings and failures). Messages never carry a secret."""

    system: str  # "Nexus", "Artifactory", "AWS", "CodeArtifact", "manifest"
    subject: str  # what was checked: "reachable", "repository maven-releases", ...
    status: CheckStatus
    message: str

    @classmethod
    def ok(cls, system: str, subject: str, message: str) -> Check:
        return cls(system, subject, CheckStatus.OK, message)

    @classmethod
    def warning(cls, system: str, subject: str, message: str) -> Check:
        return cls(system, subject, CheckStatus.WARNING, message)

    @classmethod
    def failure(cls, system: str, subject: str, message: str) -> Check:
        return cls(system, subject, CheckStatus.FAILURE, message)


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` of `count` (1-based: `--shard 2/3` is the second of three): the package
    identities whose stable hash falls in this slice.

    The partition is by package (format + namespace + name), never by file or version, so
    every version of a package, its Maven SNAPSHOT builds and its npm dist-tags are handled
    by one process in order. The hash is SHA-256 (Python's `hash` is randomised per process
    and would put one package in different shards on different machines).
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"shard {self.index}/{self.count}: K must be from 1 to N")

    @property
    def spec(self) -> str:
        """`K/N`, as `--shard` takes it and the state records it."""
        return f"{self.index}/{self.count}"

    @property
    def label(self) -> str:
        """`shard-K-of-N`: the part of a file name that tells shards' states apart."""
        return f"shard-{self.index}-of-{self.count}"

    def owns(self, fmt: str, namespace: str, package: str) -> bool:
        """Whether the package `fmt`/`namespace`/`package` belongs to this shard."""
        return shard_of(fmt, namespace, package, self.count) == self.index


def shard_of(fmt: str, namespace: str, package: str, count: int) -> int:
    """The shard (1..count) of a package identity: the same on every machine and run."""
    import hashlib

    key = "\x00".join((str(fmt), namespace, package)).encode("utf-8")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % count + 1


# -- live status ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RunSample:
    """What a running process did so far (cumulative since its run started), recorded every
    few seconds so another process can compute its rates: `migrator status` while it runs.

    `writes` / `reads`: CodeArtifact requests sent through the rate limits; `throttled`: the
    429 / ThrottlingException answers they met; `write_rate`: the write pace the rate limiter
    allows now;
    `budget`: the configured write ceiling (requests per second) of this process.
    """

    at: float
    published_assets: int = 0
    published_bytes: int = 0
    verified_assets: int = 0
    verified_bytes: int = 0
    settled_assets: int = 0
    writes: int = 0
    reads: int = 0
    throttled: int = 0
    write_rate: float | None = None
    budget: float | None = None


# -- pre-warm inputs ----------------------------------------------------------------------------

@dataclass(frozen=True)
class LockedPackage:
    """One file of one public package version that a lockfile pins.

    `path` is where the file lives in a repository of its format (the same layout the source
    crawlers record: `ms/-/ms-2.1.3.tgz`, `packages/six/1.16.0/six-1.16.0-py2.py3-none-any.whl`,
    `org/slf4j/slf4j-api/2.0.13/slf4j-api-2.0.13.jar`); `filename` its last segment.
    `hashes` are lowercase hex per algorithm (md5/sha1/sha256/sha512) as the lockfile gives
    them; `resolved` the URL the lockfile recorded, when it has one. A requirements.txt pin
    names no file: `filename` is "" and each algorithm maps to the comma-separated digests
    the pin allows (one per file of the version)."""

    format: Format
    namespace: str
    name: str
    version: str
    path: str
    filename: str
    hashes: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    resolved: str | None = field(default=None, compare=False, hash=False)
    lockfiles: tuple[str, ...] = field(default=(), compare=False, hash=False)
    #: a file the lockfile does not prove exists (a Gradle lockfile names modules, not their
    #: packaging: a POM-only module, such as a BOM, has no jar)
    optional: bool = field(default=False, compare=False, hash=False)

    @property
    def display(self) -> str:
        if self.format is Format.MAVEN:
            return f"{self.namespace}:{self.name}:{self.version}"
        if self.format is Format.NPM and self.namespace:
            return f"@{self.namespace}/{self.name}@{self.version}"
        sep = "==" if self.format is Format.PYPI else "@"
        return f"{self.name}{sep}{self.version}"
