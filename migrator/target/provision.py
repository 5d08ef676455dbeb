"""What CodeArtifact reports about a domain's topology, and the writes that change it.

`migrator target init` reads the domain (DescribeDomain), its repositories
(ListRepositoriesInDomain, then DescribeRepository for the ones the manifest names) and
writes only what is missing: CreateDomain, CreateRepository, UpdateRepository (the upstream
list, which the call replaces as a whole; its order is the search order),
AssociateExternalConnection and, with `--force` only, DisassociateExternalConnection.

Every call goes through the CodeArtifact client's control-plane plumbing (its rate buckets,
retry policies and translated errors), so a 429 waits for `Retry-After` and a refused
credential reads as one line naming CodeArtifact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from migrator.target.errors import NotFound

__all__ = ["DomainState", "PublicNames", "RepositoryState", "TargetControl"]


@dataclass(frozen=True, slots=True)
class RepositoryState:
    """One repository as DescribeRepository reports it."""

    name: str
    description: str = ""
    upstreams: tuple[str, ...] = ()
    external_connections: tuple[str, ...] = ()


@dataclass(slots=True)
class DomainState:
    """The domain as CodeArtifact reports it; `exists` False when DescribeDomain says 404."""

    exists: bool
    encryption_key: str | None = None
    #: Every repository name in the domain (ListRepositoriesInDomain).
    names: set[str] = field(default_factory=set)
    #: Described repositories (those the manifest names and the domain holds).
    repositories: dict[str, RepositoryState] = field(default_factory=dict)
    #: Read requests it took to learn all this.
    reads: int = 0


class TargetControl:
    """The domain-level control-plane calls of `target init`, over a `CodeArtifactClient`."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.domain, self.owner = client.domain, client.domain_owner
        self.writes = 0
        self.reads = 0

    async def _read(self, operation: str, **params: Any) -> dict[str, Any]:
        self.reads += 1
        return await self.client._call(operation, policy=self.client.read_policy, **params)

    async def _write(self, operation: str, **params: Any) -> dict[str, Any]:
        self.writes += 1
        return await self.client._call(operation, policy=self.client.write_policy, **params)

    def _ids(self) -> dict[str, str]:
        return {"domain": self.domain, "domainOwner": self.owner}

    async def read(self, wanted: Sequence[str]) -> DomainState:
        """The domain, its repository names, and a description of each of `wanted` it holds."""
        before = self.reads
        try:
            domain = (await self._read("DescribeDomain", **self._ids())).get("domain") or {}
        except NotFound:
            return DomainState(exists=False, reads=self.reads - before)
        state = DomainState(exists=True, encryption_key=domain.get("encryptionKey"))
        token: str | None = None
        while True:
            page = await self._read("ListRepositoriesInDomain", **self._ids(), maxResults=1000,
                                    **({"nextToken": token} if token else {}))
            state.names.update(r["name"] for r in page.get("repositories") or [])
            token = page.get("nextToken")
            if not token:
                break
        for name in wanted:
            if name in state.names:
                state.repositories[name] = await self.describe_repository(name)
        state.reads = self.reads - before
        return state

    async def describe_repository(self, name: str) -> RepositoryState:
        r = (await self._read("DescribeRepository", **self._ids(), repository=name)
             ).get("repository") or {}
        return RepositoryState(
            name=name, description=r.get("description") or "",
            upstreams=tuple(u["repositoryName"] for u in r.get("upstreams") or []),
            external_connections=tuple(c["externalConnectionName"]
                                       for c in r.get("externalConnections") or []))

    async def create_domain(self, kms_key: str | None) -> None:
        await self._write("CreateDomain", domain=self.domain,
                          **({"encryptionKey": kms_key} if kms_key else {}))

    async def create_repository(self, name: str, description: str,
                                upstreams: Sequence[str]) -> None:
        extra: dict[str, Any] = {"description": description} if description else {}
        if upstreams:
            extra["upstreams"] = [{"repositoryName": u} for u in upstreams]
        await self._write("CreateRepository", **self._ids(), repository=name, **extra)

    async def update_repository(self, name: str, *, description: str | None = None,
                                upstreams: Sequence[str] | None = None) -> None:
        extra: dict[str, Any] = {}
        if description is not None:
            extra["description"] = description
        if upstreams is not None:
            # The list replaces the old one as a whole; its order is the search order.
            extra["upstreams"] = [{"repositoryName": u} for u in upstreams]
        await self._write("UpdateRepository", **self._ids(), repository=name, **extra)

    async def associate_external_connection(self, name: str, connection: str) -> None:
        await self._write("AssociateExternalConnection", **self._ids(), repository=name,
                          externalConnection=connection)

    async def disassociate_external_connection(self, name: str, connection: str) -> None:
        await self._write("DisassociateExternalConnection", **self._ids(), repository=name,
                          externalConnection=connection)


class PublicNames:
    """Which versions of a name a public registry offers, asked through CodeArtifact itself:
    the package's metadata (npm packument, PyPI simple page, Maven artifact-level
    maven-metadata.xml) read from the native endpoint of the repository that owns the
    external connection.

    Read-only as far as AWS documents: CodeArtifact stores package *versions* when one is
    requested (an asset); a metadata read lists what the registry offers. Should a metadata
    read store anything, it lands in that proxy repository only, never in the repository the
    internal versions go to, and the internal package's origin configuration (or package
    group) is set before its first version, so it can neither block the publish nor let a
    public version through.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.reads = 0

    async def versions(self, repository: str, fmt: str, namespace: str, name: str
                       ) -> list[str]:
        """The versions `repository` lists for the name ([] when it knows none: 404)."""
        from urllib.parse import quote

        endpoint = await self.client.endpoint(repository, fmt)
        http = self.client.http
        self.reads += 1
        try:
            if fmt == "npm":
                # What npm itself sends for a scoped name: @scope%2fname.
                full = f"@{namespace}%2f{quote(name)}" if namespace else quote(name)
                response = await http.request("GET", endpoint + full, write=False,
                                              scheme="bearer")
                return sorted((response.json().get("versions") or {}).keys())
            if fmt == "pypi":
                from packaging.utils import canonicalize_name

                response = await http.request("GET",
                                              f"{endpoint}simple/{canonicalize_name(name)}/",
                                              write=False)
                return _pypi_versions(response.text)
            if fmt == "maven":
                from migrator.target.maven import listed_versions

                path = f"{namespace.replace('.', '/')}/{quote(name)}/maven-metadata.xml"
                response = await http.request("GET", endpoint + path, write=False)
                return listed_versions(response.text)
        except NotFound:
            return []
        return []


def _pypi_versions(page: str) -> list[str]:
    """Versions of the files a PEP 503 simple page links to."""
    import re

    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    out: set[str] = set()
    for href in re.findall(r"""href=["']([^"'#]+)""", page, re.IGNORECASE):
        filename = href.rsplit("/", 1)[-1]
        try:
            if filename.endswith(".whl"):
                out.add(str(parse_wheel_filename(filename)[1]))
            else:
                out.add(str(parse_sdist_filename(filename)[1]))
        except (InvalidSdistFilename, InvalidWheelFilename):
            continue
    return sorted(out)
