"""Least-privilege IAM policies for the migrator and for consumers (read-only).

Action names are CodeArtifact's IAM actions: each API operation the migrator calls (the
names of botocore's service model) plus `ReadFromRepository`, the permission of the native
endpoints' reads (it has no API operation). Resources are the narrowest ARN each action
takes: the domain, its repositories, or the packages of a repository and format;
`sts:GetServiceBearerToken` (no resource type) is limited by its condition to CodeArtifact.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["CONSUMER_ACTIONS", "MIGRATOR_ACTIONS", "consumer_policy", "migrator_policy"]

#: action → resource kind (domain, repository, package).
MIGRATOR_ACTIONS: dict[str, str] = {
    "GetAuthorizationToken": "domain",
    "DescribeDomain": "domain",
    "ListRepositoriesInDomain": "domain",
    "DescribeRepository": "repository",
    "GetRepositoryEndpoint": "repository",
    "ReadFromRepository": "repository",
    "ListPackages": "repository",
    "PublishPackageVersion": "package",
    "PutPackageMetadata": "package",
    "DescribePackage": "package",
    "DescribePackageVersion": "package",
    "ListPackageVersions": "package",
    "ListPackageVersionAssets": "package",
    "GetPackageVersionAsset": "package",
    "UpdatePackageVersionsStatus": "package",
    "PutPackageOriginConfiguration": "package",
}
CONSUMER_ACTIONS: dict[str, str] = {
    "GetAuthorizationToken": "domain",
    "GetRepositoryEndpoint": "repository",
    "ReadFromRepository": "repository",
}
_BEARER = {
    "Sid": "CodeArtifactBearerToken",
    "Effect": "Allow",
    "Action": "sts:GetServiceBearerToken",
    "Resource": "*",
    "Condition": {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}},
}


def _arns(region: str, owner: str, domain: str,
          repositories: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    base = f"arn:aws:codeartifact:{region}:{owner}"
    repos = sorted({r for r, _ in repositories})
    return {
        "domain": [f"{base}:domain/{domain}"],
        "repository": [f"{base}:repository/{domain}/{r}" for r in repos],
        # package/<domain>/<repository>/<format>/<namespace>/<name>: one format per repository
        "package": [f"{base}:package/{domain}/{r}/{fmt}/*"
                    for r, fmt in sorted(set(repositories))],
    }


def _statements(actions: dict[str, str], arns: dict[str, list[str]],
                sid: str) -> Iterable[dict[str, Any]]:
    for kind in ("domain", "repository", "package"):
        names = sorted(a for a, k in actions.items() if k == kind)
        if names and arns[kind]:
            yield {"Sid": f"{sid}{kind.capitalize()}", "Effect": "Allow",
                   "Action": [f"codeartifact:{a}" for a in names], "Resource": arns[kind]}


def migrator_policy(*, region: str, owner: str, domain: str,
                    repositories: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """What `migrator` needs: read, publish, verify, finalize (status, origin controls), for
    `repositories` ((name, CodeArtifact format) pairs) of one domain."""
    arns = _arns(region, owner, domain, repositories)
    return {"Version": "2012-10-17",
            "Statement": [*_statements(MIGRATOR_ACTIONS, arns, "Migrator"), _BEARER]}


def consumer_policy(*, region: str, owner: str, domain: str,
                    repositories: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """What a build that only installs needs: a token, the endpoints, reads."""
    arns = _arns(region, owner, domain, repositories)
    return {"Version": "2012-10-17",
            "Statement": [*_statements(CONSUMER_ACTIONS, arns, "Consumer"), _BEARER]}
