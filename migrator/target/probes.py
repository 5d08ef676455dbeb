"""The preflight's probes of CodeArtifact: credentials, domain, repositories, token, endpoints
and upstream chains, each answered as one `Check` line that names the fix.

A mixin of `CodeArtifactClient` (its `_call`, buckets, policies and endpoint cache); kept
apart because the probes are read once before a run, while the client's other methods serve
every request of it.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import botocore.exceptions

from migrator.errors import did_you_mean, root_cause
from migrator.models import Check, CheckStatus, Format
from migrator.target.errors import (
    CredentialsRefused,
    NotFound,
    PublishError,
    Unreachable,
)

__all__ = ["PreflightProbes"]


class PreflightProbes:
    """The probe methods of `CodeArtifactClient` (see `probe_access`, `probe_endpoints`)."""

    domain: str
    domain_owner: str
    region: str
    limits: Any
    read_policy: Any

    @property
    def _where(self) -> str:
        return f"domain {self.domain!r} (owner {self.domain_owner}, {self.region})"

    async def probe_access(self, repositories: Iterable[str]) -> list[Check]:
        """Preflight of the account, one `Check` line each: AWS credentials found (and which
        part of botocore's chain found them), the domain exists for the owner in the region,
        every one of `repositories` exists in it, and an authorization token can be had.

        Use a `for_preflight` client (one attempt, short timeouts). Credentials and domain
        come first, each stopping the steps after it when it fails; the repositories and the
        token are then asked at once. DescribeRepository reports no format restriction
        (a CodeArtifact repository holds every format); the one format-bound setting, the
        external connection, is checked by `probe_endpoints` for pre-warmed repositories.
        """
        out = [await self._probe_credentials()]
        if out[-1].status is CheckStatus.FAILURE:
            return out
        out.append(await self._probe_domain())
        if out[-1].status is CheckStatus.FAILURE:
            return out
        wanted = sorted(set(repositories))
        # The repositories and the token need only the domain: asked together.
        *found, token = await _gather([
            *(functools.partial(self._probe_repository, r, None) for r in wanted),
            self._probe_token])
        if None in found:  # some are missing: name the closest ones the domain has
            names = await self._repository_names()
            found = [check or await self._probe_repository(r, names)
                     for r, check in zip(wanted, found, strict=True)]
        out += [c for c in found if c is not None]
        out.append(token)
        return out

    async def probe_endpoints(self, needs: Mapping[str, Iterable[Format]], *,
                              prewarm: Mapping[str, Iterable[Format]] | None = None
                              ) -> list[Check]:
        """Preflight of the native endpoints: for each repository and format in `needs`,
        GetRepositoryEndpoint answers and its host resolves from here; for each pre-warmed
        repository and format in `prewarm`, its upstream chain reaches an external connection
        of that format (else pre-warming cannot fetch anything: a warning)."""
        probes = [functools.partial(self._probe_endpoint, repository, fmt)
                  for repository, formats in sorted(needs.items())
                  for fmt in sorted({str(f) for f in formats})]
        probes += [functools.partial(self._probe_upstreams, repository, fmt)
                   for repository, formats in sorted((prewarm or {}).items())
                   for fmt in sorted({str(f) for f in formats})]
        return await _gather(probes)

    async def _probe_credentials(self) -> Check:
        subject = "credentials"
        if self.session is None:
            return Check.ok("AWS", subject, "AWS credentials: an injected client")
        try:
            # May ask the instance metadata service: botocore bounds that by itself (1 s).
            creds = await anyio.to_thread.run_sync(self.session.get_credentials)
        except botocore.exceptions.BotoCoreError as exc:
            return Check.failure("AWS", subject, f"AWS credentials could not be loaded: "
                                 f"{root_cause(exc)}; fix the AWS config/credentials files or "
                                 f"the AWS_* environment variables")
        if creds is None:
            return Check.failure(
                "AWS", subject,
                "no AWS credentials found (botocore looked in the environment, the shared "
                "credentials and config files, SSO, and container/instance metadata); export "
                "AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or set "
                "[target] profile")
        self._credential_method = getattr(creds, "method", None) or "unknown"
        profile = self.profile or self.session.profile
        named = f", profile {profile!r}" if profile and profile != "default" else ""
        return Check.ok("AWS", subject, f"AWS credentials found ({self._credential_method}"
                        f"{named}); the secret is not shown")

    def _refused(self, exc: Exception, operation: str, action: str) -> Check:
        method = self._credential_method or "unknown"
        text = getattr(exc, "message", str(exc))
        if isinstance(exc, CredentialsRefused):
            return Check.failure(
                "AWS", operation,
                f"AWS refused the credentials ({method}) for {operation} on {self._where}: "
                f"{text}; fix the credentials, or allow {action} to this identity")
        if isinstance(exc, Unreachable):
            return Check.failure(
                "CodeArtifact", operation,
                f"CodeArtifact is unreachable: {text}; check [target] region and endpoint_url "
                f"and the network (in a VPC: the com.amazonaws.{self.region}.codeartifact.api "
                f"endpoint)")
        return Check.failure("CodeArtifact", operation, f"{text}"
                             + (f"; {exc.hint}" if getattr(exc, "hint", None) else ""))

    async def _probe_domain(self) -> Check:
        try:
            result = await self._call("DescribeDomain", buckets=(self.limits.reads,),
                                      policy=self.read_policy, domain=self.domain,
                                      domainOwner=self.domain_owner)
        except NotFound:
            names = await self._names("ListDomains", "domains", maxResults=100)
            close = did_you_mean(self.domain, names)
            return Check.failure(
                "CodeArtifact", f"domain {self.domain}",
                f"CodeArtifact domain {self.domain!r} does not exist for owner "
                f"{self.domain_owner} in {self.region}; {close}create it (aws codeartifact "
                f"create-domain --domain {self.domain} --region {self.region}) or fix "
                f"[target] domain, domain_owner or region")
        except (PublishError, CredentialsRefused) as exc:
            return self._refused(exc, "DescribeDomain", "codeartifact:DescribeDomain")
        domain = result.get("domain") or {}
        status = domain.get("status", "Active")
        if status != "Active":
            return Check.failure("CodeArtifact", f"domain {self.domain}",
                                 f"CodeArtifact {self._where} is {status}, not Active; use an "
                                 f"active domain in [target] domain")
        return Check.ok("CodeArtifact", f"domain {self.domain}",
                        f"CodeArtifact {self._where} found "
                        f"({domain.get('repositoryCount', '?')} repositories)")

    async def _describe_repository(self, repository: str) -> dict[str, Any]:
        if repository not in self._described:
            result = await self._call("DescribeRepository", buckets=(self.limits.reads,),
                                      policy=self.read_policy, domain=self.domain,
                                      domainOwner=self.domain_owner, repository=repository)
            self._described[repository] = result.get("repository") or {}
        return self._described[repository]

    async def _probe_repository(self, repository: str, names: list[str] | None
                                ) -> Check | None:
        subject = f"repository {repository}"
        try:
            await self._describe_repository(repository)
        except NotFound:
            if names is None:
                return None
            return Check.failure(
                "CodeArtifact", subject,
                f"target repository {repository!r} does not exist in {self._where}; "
                f"{did_you_mean(repository, names)}create it (`migrator target init "
                f"MANIFEST` with a [[target.repositories]] table for it, or aws codeartifact "
                f"create-repository --domain {self.domain} --domain-owner {self.domain_owner} "
                f"--repository {repository} --region {self.region}) or fix [[repositories]] "
                f"target")
        except (PublishError, CredentialsRefused) as exc:
            return self._refused(exc, "DescribeRepository", "codeartifact:DescribeRepository")
        return Check.ok("CodeArtifact", subject,
                        f"target repository {repository!r} exists in domain {self.domain!r}")

    async def _names(self, operation: str, key: str, **params: Any) -> list[str]:
        """Names from one page of a List call, for "did you mean"; [] when it fails."""
        try:
            result = await self._call(operation, buckets=(self.limits.reads,),
                                      policy=self.read_policy, **params)
        except (PublishError, CredentialsRefused):
            return []
        return [str(e.get("name")) for e in result.get(key) or [] if e.get("name")]

    async def _repository_names(self) -> list[str]:
        return await self._names("ListRepositoriesInDomain", "repositories",
                                 domain=self.domain, domainOwner=self.domain_owner,
                                 maxResults=1000)

    async def _probe_token(self) -> Check:
        try:
            await self._call("GetAuthorizationToken", buckets=(self.limits.token,
                                                                self.limits.reads),
                             policy=self.token_policy, domain=self.domain,
                             domainOwner=self.domain_owner, durationSeconds=900)
        except (PublishError, CredentialsRefused) as exc:
            return self._refused(exc, "GetAuthorizationToken",
                                 "codeartifact:GetAuthorizationToken on the domain and "
                                 "sts:GetServiceBearerToken")
        return Check.ok("CodeArtifact", "token",
                        f"CodeArtifact authorization token for domain {self.domain!r} obtained "
                        f"(not shown)")

    async def _probe_endpoint(self, repository: str, fmt: str) -> Check:
        subject = f"endpoint {repository} {fmt}"
        try:
            url = await self.endpoint(repository, fmt)
        except (PublishError, CredentialsRefused) as exc:
            return self._refused(exc, "GetRepositoryEndpoint",
                                 "codeartifact:GetRepositoryEndpoint")
        host = urlsplit(url).hostname or ""
        port = urlsplit(url).port or (443 if url.startswith("https") else 80)
        try:
            with anyio.fail_after(self.connect_timeout):
                await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            cause = f"no answer from DNS within {self.connect_timeout:g} s"
        except OSError as exc:
            cause = root_cause(exc)
        else:
            return Check.ok("CodeArtifact", subject,
                            f"target repository {repository!r} {fmt} endpoint {url} resolves")
        return Check.failure(
            "CodeArtifact", subject,
            f"the {fmt} endpoint of target repository {repository!r} ({url}) does not resolve "
            f"from here: {cause}; allow DNS for *.codeartifact.{self.region}.amazonaws.com, "
            f"or in a VPC create the com.amazonaws.{self.region}.codeartifact.repositories "
            f"endpoint with private DNS")

    async def _probe_upstreams(self, repository: str, fmt: str) -> Check:
        subject = f"upstreams {repository} {fmt}"
        seen: list[str] = []
        todo, formats = [repository], set()
        try:
            while todo and len(seen) < 25:  # a chain is at most 10 wide; bounded anyway
                name = todo.pop(0)
                if name in seen:
                    continue
                seen.append(name)
                described = await self._describe_repository(name)
                formats |= {c.get("packageFormat") for c in
                            described.get("externalConnections") or []}
                todo += [u["repositoryName"] for u in described.get("upstreams") or []
                         if u.get("repositoryName")]
        except (PublishError, CredentialsRefused) as exc:
            return Check.warning("CodeArtifact", subject,
                                 f"could not follow the upstreams of {repository!r}: "
                                 f"{getattr(exc, 'message', exc)}")
        if fmt in formats:
            return Check.ok("CodeArtifact", subject,
                            f"target repository {repository!r} reaches an external "
                            f"connection for {fmt} (pre-warming can fetch public packages)")
        connection = _PUBLIC_CONNECTIONS.get(fmt)
        fix = (f"associate one with a repository of its upstream chain (aws codeartifact "
               f"associate-external-connection --domain {self.domain} --domain-owner "
               f"{self.domain_owner} --repository <store> --external-connection {connection} "
               f"--region {self.region})" if connection else
               f"CodeArtifact has no public {fmt} connection: set mode = 'skip' for it")
        return Check.warning(
            "CodeArtifact", subject,
            f"target repository {repository!r} reaches no external connection for {fmt} "
            f"through its upstreams ({', '.join(seen)}), so pre-warming cannot fetch public "
            f"packages; "
            f"{fix}")


async def _gather(calls: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Await every call at once (the client's thread limiter bounds them); results in order."""
    results: list[Any] = [None] * len(calls)

    async def one(i: int) -> None:
        results[i] = await calls[i]()

    async with anyio.create_task_group() as tg:
        for i in range(len(calls)):
            tg.start_soon(one, i)
    return results


_PUBLIC_CONNECTIONS = {"maven": "public:maven-central", "npm": "public:npmjs",
                       "pypi": "public:pypi"}
