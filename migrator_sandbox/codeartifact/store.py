"""The emulator's state: domains → repositories → packages → versions → assets (reference §13.2).

Asset bytes are stored once per domain, addressed by SHA-256 (our choice; AWS only documents
that an asset is stored once however many repositories hold it). State lives in memory, or in
a directory (`state.pickle` + `blobs/<sha256>`) so a restarted sandbox keeps what it had.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pickle
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread

SAVE_INTERVAL = 0.5  # seconds between state-file writes under load
STATUSES = ("Published", "Unfinished", "Unlisted", "Archived", "Disposed", "Deleted")
# Statuses whose assets can be downloaded (reference §7.1).
DOWNLOADABLE = ("Published", "Unlisted")


def pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def normalize_name(fmt: str, name: str) -> str:
    return pep503(name) if fmt in ("pypi", "nuget", "swift") else name


def new_revision() -> str:
    # Opaque, about 44 characters like the real ones, within the model's 1-50 \S+ limit.
    return base64.b64encode(os.urandom(33)).decode()


def hashes_of(data: bytes) -> dict[str, str]:
    return {
        "MD5": hashlib.md5(data).hexdigest(),
        "SHA-1": hashlib.sha1(data).hexdigest(),
        "SHA-256": hashlib.sha256(data).hexdigest(),
        "SHA-512": hashlib.sha512(data).hexdigest(),
    }


# Bodies from this size are hashed in a thread (hashlib lets go of the GIL): four digests of
# a few megabytes take tens of milliseconds, during which the event loop would admit no
# request and then stamp the waiting ones all at once, crowding the quotas' one-second
# window as no real front end does.
_OFF_LOOP = 256 * 1024


async def hashes_off_loop(data: bytes) -> dict[str, str]:
    if len(data) < _OFF_LOOP:
        return hashes_of(data)
    return await anyio.to_thread.run_sync(hashes_of, data)


@dataclass
class Behaviour:
    """Switches for the behaviours the reference marks [UNCERTAIN], with the likeliest default."""

    publish_blocked_status: int = 403  # publish=BLOCK: 403 or 409 (reference §7.2)
    maven_metadata_publishes: str = "listed"  # "listed" (in <versions>) or "all" Unfinished
    npm_strict_integrity: bool = True  # check dist.integrity/shasum/length of the attachment
    # npm: a version already stored, published again with identical bytes (reference §3.2:
    # the answer is undocumented): 409 (versions are immutable), 200 (idempotent like Maven
    # and PyPI), 403 (npmjs' "cannot publish over the previously published versions") or 400
    # (an EPUBLISHCONFLICT-style refusal). Other bytes are always 409.
    npm_republish_status: int = 409
    # PyPI: the same file again. The UG says identical bytes succeed; a CI pipeline re-running
    # a release saw 409 (reference §4.2, DeytaHQ/khora#498). 200 or 409.
    pypi_republish_status: int = 200
    # PublishPackageVersion of an asset already stored with the same bytes: undocumented
    # (fidelity row 28). 200 or 409.
    generic_republish_status: int = 200
    pypi_strict_digests: bool = True  # check md5_digest/sha256_digest form fields
    repo_upstreams_with_external: bool = True  # may a repo have upstreams and a connection?
    assets_per_version: int = 150  # one translated quota page says 350
    ingest_delay: float = 0.0  # seconds before ingested versions show in list APIs (AWS ~180)
    publish_delay: float = 0.0  # eventual consistency of list/describe APIs after a publish
    token_default_duration: int = 43200
    session_token_duration: int = 3600  # what duration=0 ("the role session") lasts
    # 401 challenges: seen as one `Bearer ..., Basic ...` field from the npm endpoint; sent as
    # two fields by default (same meaning per RFC 9110), which Maven's HTTP client also parses.
    combined_challenge: bool = False
    # Store the PUT maven-metadata.xml as an asset of the versions it publishes; the UG shows
    # it in ListPackageVersionAssets output, so verifiers must tolerate it (§2.3).
    maven_metadata_asset: bool = False
    # SNAPSHOT builds (UG maven-snapshots): "builds" = each timestamped build is its own
    # version from its first PUT (Unfinished), the version-level maven-metadata.xml turns it
    # Unlisted and makes `X-SNAPSHOT` Published with the build's assets; "rolling" = the first
    # emulation: the newest build's files live under `X-SNAPSHOT` and the previous build is
    # moved to a version of its own (Unlisted) when the next build's first file arrives.
    maven_snapshot_model: str = "builds"
    # GET of the artifact-level maven-metadata.xml: "generated" from the Published versions
    # (repository and upstreams), or "uploaded" = the last file PUT there (undocumented, §2.3).
    maven_metadata_served: str = "generated"
    # A PyPI upload's `gpg_signature` part (twine): "asset" = kept as the asset `<file>.asc`
    # (as PyPI did), "dropped" = accepted and discarded. Undocumented for CodeArtifact.
    pypi_gpg_signature: str = "asset"


@dataclass
class Asset:
    name: str
    sha256: str
    size: int
    hashes: dict[str, str]


@dataclass
class Version:
    version: str
    status: str
    revision: str
    published_time: float
    origin_type: str = "INTERNAL"
    entry_repository: str | None = None
    entry_connection: str | None = None
    assets: dict[str, Asset] = field(default_factory=dict)
    visible_at: float = 0.0
    display_name: str = ""
    metadata: dict = field(default_factory=dict)  # summary, homePage, licenses, npm manifest
    bad_checksums: set[str] = field(default_factory=set)  # Maven assets with a wrong sidecar

    def origin(self) -> dict:
        entry = (
            {"externalConnectionName": self.entry_connection}
            if self.entry_connection
            else {"repositoryName": self.entry_repository}
        )
        return {"domainEntryPoint": entry, "originType": self.origin_type}


@dataclass
class Package:
    format: str
    namespace: str  # "" when the format or package has none
    name: str  # normalised name (PyPI: PEP 503)
    publish: str | None = None  # origin restrictions; None until set or first version
    upstream: str | None = None
    versions: dict[str, Version] = field(default_factory=dict)
    dist_tags: dict[str, str] = field(default_factory=dict)
    maven_metadata: bytes | None = None  # the last artifact-level maven-metadata.xml PUT

    def restrictions(self) -> dict[str, str]:
        return {"publish": self.publish or "ALLOW", "upstream": self.upstream or "ALLOW"}


@dataclass
class Repository:
    name: str
    domain: str
    description: str = ""
    upstreams: list[str] = field(default_factory=list)
    external_connection: str | None = None
    created: float = 0.0
    packages: dict[tuple[str, str, str], Package] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class PackageGroup:
    pattern: str
    created: float
    contact_info: str = ""
    description: str = ""
    # PUBLISH / EXTERNAL_UPSTREAM / INTERNAL_UPSTREAM →
    # ALLOW | BLOCK | ALLOW_SPECIFIC_REPOSITORIES | INHERIT
    restrictions: dict[str, str] = field(default_factory=dict)
    allowed: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Domain:
    name: str
    owner: str
    created: float
    repositories: dict[str, Repository] = field(default_factory=dict)
    groups: dict[str, PackageGroup] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    #: CreateDomain's encryptionKey (None: the AWS-owned key); it cannot change later.
    encryption_key: str | None = None


class BlobStore:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._memory: dict[str, bytes] = {}
        if directory:
            directory.mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes, digest: str | None = None) -> str:
        digest = digest or hashlib.sha256(data).hexdigest()
        if self.directory is None:
            self._memory[digest] = data
        else:
            path = self.directory / digest
            if not path.exists():
                fd, tmp = tempfile.mkstemp(dir=self.directory)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
        return digest

    def get(self, digest: str) -> bytes:
        if self.directory is None:
            return self._memory[digest]
        return (self.directory / digest).read_bytes()


class Store:
    def __init__(
        self,
        *,
        account: str = "111122223333",
        region: str = "us-east-1",
        data_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        behaviour: Behaviour | None = None,
    ) -> None:
        self.account = account
        self.region = region
        self.clock = clock
        self.behaviour = behaviour or Behaviour()
        self.data_dir = Path(data_dir) if data_dir else None
        self.blobs = BlobStore(self.data_dir / "blobs" if self.data_dir else None)
        self.domains: dict[str, Domain] = {}
        self.tokens: dict[str, float] = {}  # token → expiry (epoch seconds)
        self.lock = threading.RLock()
        self._last_save = 0.0
        self._dirty = False
        if self.data_dir and (self.data_dir / "state.pickle").exists():
            with open(self.data_dir / "state.pickle", "rb") as fh:
                saved = pickle.load(fh)
            self.domains, self.tokens = saved["domains"], saved["tokens"]

    def save(self, force: bool = False) -> None:
        """Write the state file; at most every SAVE_INTERVAL seconds unless forced.

        Pickling the whole state on every write would make a large migration's throughput
        depend on the state size; the owner calls `save(force=True)` periodically and on stop.
        """
        if not self.data_dir:
            return
        now = time.monotonic()
        if not force and now - self._last_save < SAVE_INTERVAL:
            self._dirty = True
            return
        self._last_save, self._dirty = now, False
        with self.lock:
            blob = pickle.dumps({"domains": self.domains, "tokens": self.tokens})
        fd, tmp = tempfile.mkstemp(dir=self.data_dir)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, self.data_dir / "state.pickle")

    def save_if_dirty(self) -> None:
        if self._dirty:
            self.save(force=True)

    # -- ARNs ---------------------------------------------------------------------------------
    def arn(self, resource: str) -> str:
        return f"arn:aws:codeartifact:{self.region}:{self.account}:{resource}"

    # -- lookups ------------------------------------------------------------------------------
    def domain(self, name: str, owner: str | None = None) -> Domain:
        from .errors import NotFound

        dom = self.domains.get(name)
        if dom is None or (owner and owner != dom.owner):
            raise NotFound(f"Domain {name} not found", resourceId=name, resourceType="domain")
        return dom

    def repository(self, domain: str, repo: str, owner: str | None = None) -> Repository:
        from .errors import NotFound

        r = self.domain(domain, owner).repositories.get(repo)
        if r is None:
            raise NotFound(
                f"Repository {repo} not found in domain {domain}",
                resourceId=repo,
                resourceType="repository",
            )
        return r

    def package(self, repo: Repository, fmt: str, ns: str | None, name: str) -> Package:
        from .errors import NotFound

        key = (fmt, ns or "", normalize_name(fmt, name))
        pkg = repo.packages.get(key)
        if pkg is None:
            raise NotFound(
                f"Package not found in repository. RepoId: {repo.name}, Package = "
                f"PackageCoordinate{{packageType={fmt}, packageName={name}}}",
                resourceId=name,
                resourceType="package",
            )
        return pkg

    def version(self, pkg: Package, version: str, *, visible_only: bool = True) -> Version:
        from .errors import NotFound

        v = pkg.versions.get(version)
        if v is None or (visible_only and v.visible_at > self.clock()):
            raise NotFound(
                f"Package version {version} not found", resourceId=version,
                resourceType="package-version",
            )
        return v

    def ensure_package(self, repo: Repository, fmt: str, ns: str | None, name: str) -> Package:
        key = (fmt, ns or "", normalize_name(fmt, name))
        pkg = repo.packages.get(key)
        if pkg is None:
            pkg = repo.packages[key] = Package(fmt, ns or "", key[2])
        return pkg

    def read_asset(self, asset: Asset) -> bytes:
        return self.blobs.get(asset.sha256)

    def store_asset(self, name: str, data: bytes,
                    hashes: dict[str, str] | None = None) -> Asset:
        hashes = hashes or hashes_of(data)
        digest = self.blobs.put(data, hashes["SHA-256"])
        return Asset(name=name, sha256=digest, size=len(data), hashes=hashes)
