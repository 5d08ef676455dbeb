"""Package groups (reference §7.3): the domain-level origin restrictions that protect whole
internal namespaces (`/npm/acme/*`, `/maven/com.acme~`, `/pypi//acme-~`).

DescribePackageGroup tells whether a group exists and what its own (not inherited) modes
are; CreatePackageGroup and UpdatePackageGroupOriginConfiguration set it once. Edits of a
group's origin configuration apply almost at once; creating a group takes effect eventually
(AWS documentation), so a group is created before the first internal version of the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from migrator.target.errors import NotFound

__all__ = ["INTERNAL_NAMESPACE", "GroupState", "PackageGroups"]

#: The restrictions of an internal namespace's group: nothing of these names may come from a
#: public registry (dependency confusion); publishing and internal upstreams stay allowed.
INTERNAL_NAMESPACE: Mapping[str, str] = {"EXTERNAL_UPSTREAM": "BLOCK", "PUBLISH": "ALLOW",
                                         "INTERNAL_UPSTREAM": "ALLOW"}


@dataclass(frozen=True, slots=True)
class GroupState:
    """A package group as DescribePackageGroup reports it (`modes`: its own settings)."""

    pattern: str
    modes: Mapping[str, str]

    def differs(self, wanted: Mapping[str, str]) -> dict[str, str]:
        """The restrictions of `wanted` the group does not have itself."""
        return {k: v for k, v in wanted.items() if self.modes.get(k) != v}


class PackageGroups:
    """Package group calls over a `CodeArtifactClient` (its buckets, retries, errors)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.reads = 0
        self.writes = 0

    def _ids(self) -> dict[str, str]:
        return {"domain": self.client.domain, "domainOwner": self.client.domain_owner}

    async def describe(self, pattern: str) -> GroupState | None:
        """The group of exactly this pattern, or None when the domain has none."""
        self.reads += 1
        try:
            result = await self.client._call("DescribePackageGroup",
                                             policy=self.client.read_policy, **self._ids(),
                                             packageGroup=pattern)
        except NotFound:
            return None
        group = result.get("packageGroup") or {}
        restrictions = (group.get("originConfiguration") or {}).get("restrictions") or {}
        return GroupState(pattern, {k: str(v.get("mode")) for k, v in restrictions.items()})

    async def create(self, pattern: str, *, description: str = "",
                     contact_info: str = "") -> None:
        self.writes += 1
        extra = {k: v for k, v in (("description", description),
                                   ("contactInfo", contact_info)) if v}
        await self.client._call("CreatePackageGroup", policy=self.client.write_policy,
                                **self._ids(), packageGroup=pattern, **extra)

    async def set_origin(self, pattern: str, restrictions: Mapping[str, str]) -> None:
        self.writes += 1
        await self.client._call("UpdatePackageGroupOriginConfiguration",
                                policy=self.client.write_policy, **self._ids(),
                                packageGroup=pattern, restrictions=dict(restrictions))
