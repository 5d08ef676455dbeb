"""Value objects shared by crawlers, the work queue and publishers."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

HASH_ALGORITHMS = ("md5", "sha1", "sha256", "sha512")


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
