"""The CodeArtifact client: tokens, endpoints, rate limits, verification reads, control writes.

A botocore client for the control plane (blocking calls in `anyio.to_thread.run_sync` under a
bounded limiter; botocore's own retries are off because it ignores CodeArtifact's
`Retry-After`), and `NativeHttp` for the repositories' native endpoints. Every call takes a
token from the buckets of its quota classes (`RateLimits.buckets`) and is retried by a
`migrator.retry` policy; botocore errors become `PublishError` / `CredentialsRefused` whose
messages name CodeArtifact: refused credentials, and access denied to the domain or a
repository as a whole, stop the run; access denied for one package (`PublishRefused`) fails
that package only.

The authorization token is fetched once, cached, and refreshed `refresh_margin` before it
expires; while one task refreshes, the others keep using the still-valid old token. A 401 from
a native endpoint (a token that expired early, or a clock that moved) invalidates it once.
The token never reaches a log line or an exception message.

It is also the `Target` the publishers write to (see `migrator.target.base`).
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import botocore.exceptions
import botocore.loaders
import botocore.session
import httpx
from botocore.config import Config

from migrator.errors import MigratorError, first_error, root_cause
from migrator.log import register_secret
from migrator.manifest import Manifest, Options
from migrator.models import ClaimedVersion, Format, VersionCheck
from migrator.retry import (
    PREFLIGHT,
    TARGET_READ,
    TARGET_TOKEN,
    TARGET_WRITE,
    RetryPolicy,
    is_configuration_failure,
    is_connect_failure,
)
from migrator.target.base import target_version_names
from migrator.target.errors import (
    AlreadyExists,
    CredentialsRefused,
    NotFound,
    PublishError,
    PublishRefused,
    Throttled,
    Unreachable,
    redact,
)
from migrator.target.http import NativeHttp
from migrator.target.probes import PreflightProbes
from migrator.target.ratelimit import AdaptiveBucket, RateLimits
from migrator.target.signed import SignedCalls
from migrator.target.statuses import StatusReads
from migrator.verification import asset_name, normal_hashes

__all__ = ["CodeArtifactClient"]

logger = logging.getLogger(__name__)

_AUTH_CODES = frozenset({
    "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
    "ExpiredTokenException", "ExpiredToken", "InvalidClientTokenId", "SignatureDoesNotMatch",
    "MissingAuthenticationTokenException", "AuthFailure",
})
# The credentials themselves are wrong (not a policy about one package).
_CREDENTIAL_CODES = _AUTH_CODES - {"AccessDeniedException"}
_RETRYABLE_CODES = frozenset({"ThrottlingException", "InternalServerException",
                              "ServiceUnavailable", "RequestTimeout", "RequestTimeoutException"})
_TRANSPORT = (botocore.exceptions.EndpointConnectionError,
              botocore.exceptions.ConnectionClosedError,
              botocore.exceptions.ReadTimeoutError,
              botocore.exceptions.ConnectTimeoutError,
              botocore.exceptions.ProxyConnectionError)
# Operations about the domain or a repository as a whole (not one package): access denied to
# them is fatal, a missing resource is a whole-system failure.
_WHOLE_TARGET = frozenset({"GetAuthorizationToken", "GetRepositoryEndpoint", "DescribeDomain",
                           "DescribeRepository", "ListDomains", "ListRepositories",
                           "ListRepositoriesInDomain"})
# The connection itself failed: the endpoint (not this request) is the problem.
_UNREACHABLE = (botocore.exceptions.EndpointConnectionError,
                botocore.exceptions.ConnectTimeoutError,
                botocore.exceptions.ProxyConnectionError)
# botocore loggers that print whole responses at DEBUG (GetAuthorizationToken's body).
_NOISY_LOGGERS = ("botocore.parsers", "botocore.endpoint", "botocore.hooks", "botocore.auth",
                  "botocore.httpsession", "urllib3.connectionpool")


# An asset no attempt has touched yet (migrator.state.status.DISCOVERED: the state package
# is on this layer, so not importable here).
_UNTOUCHED = "discovered"
# Package listings kept for first looks (LRU), and how long one is trusted.
_LISTINGS_KEPT = 10_000
_LISTING_SECONDS = 300.0


_TOKEN_FIELD = re.compile(r"""(["']?authorizationToken["']?\s*[:=]\s*["']?)[^"',}\s]+""")


class _Redactor(logging.Filter):
    """Removes the tokens of live clients from botocore's DEBUG records."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        # The GetAuthorizationToken body is logged before the client has seen the token.
        cleaned = _TOKEN_FIELD.sub(r"\1<redacted>", redact(message, self.secrets))
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_REDACTOR = _Redactor()
for _name in _NOISY_LOGGERS:
    logging.getLogger(_name).addFilter(_REDACTOR)


class _TokenAuth:
    """`Auth` for native endpoints backed by the client's cached token."""

    def __init__(self, client: CodeArtifactClient) -> None:
        self.client = client

    async def header(self, scheme: str) -> str | None:
        token = await self.client.token()
        if scheme == "bearer":
            return f"Bearer {token}"
        from migrator.target.http import basic_header

        return basic_header("aws", token)

    async def refused(self, header: str | None) -> bool:
        return await self.client.invalidate_token(header)

    def secrets(self) -> Iterable[str]:
        return self.client.secrets()


def boto_session(profile: str | None, region: str) -> botocore.session.Session:
    """A botocore session for `profile` in `region`, reading botocore's service data through
    one loader per process. Each session used to load it afresh (endpoints, partitions, the
    CodeArtifact model: about 0.1 s), and a run makes two clients (preflight, then the run).
    botocore rather than boto3: boto3 adds nothing a client needs here, and importing it
    (s3transfer with it) took 0.1 s of every start. Credentials stay each session's own,
    resolved when its client is made (and a `profile` missing from the AWS config files is
    botocore's ProfileNotFound then).
    """
    session = botocore.session.Session(profile=profile)
    session.register_component("data_loader", _shared_loader())
    session.set_config_variable("region", region)
    return session


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


class CodeArtifactClient(PreflightProbes):
    """One CodeArtifact domain: control plane, native endpoints, tokens, rate limits.

    Use as `async with CodeArtifactClient.from_manifest(manifest) as client:` (or call
    `aclose()`).
    """

    name = "CodeArtifact"
    is_codeartifact = True

    def __init__(self, *, domain: str, domain_owner: str, region: str,
                 profile: str | None = None, endpoint_url: str | None = None,
                 rate_budget: float = Options.rate_budget, limits: RateLimits | None = None,
                 boto_client: Any = None, session: botocore.session.Session | None = None,
                 token_duration: int = 43200, refresh_margin: float = 900.0,
                 clock: Callable[[], float] = time.time, sleep=None,
                 thread_limit: int = 16, endpoint_type: str = "ipv4",
                 write_policy: RetryPolicy = TARGET_WRITE,
                 read_policy: RetryPolicy = TARGET_READ,
                 token_policy: RetryPolicy = TARGET_TOKEN,
                 http_transport=None,
                 visibility_waits: Sequence[float] = (0.25, 0.5, 1.0, 2.0),
                 connect_timeout: float = 30.0, read_timeout: float = 300.0,
                 signed_calls: bool = True, confirm_completion: bool = True,
                 first_look_from_listing: bool = False) -> None:
        self.domain, self.domain_owner, self.region = domain, domain_owner, region
        self.endpoint_url = endpoint_url
        self.profile = profile
        self.limits = limits or RateLimits.from_budget(rate_budget)
        self.token_duration = token_duration
        self.refresh_margin = refresh_margin
        self.clock = clock
        self.sleep = sleep
        self.endpoint_type = endpoint_type
        self.write_policy, self.read_policy = write_policy, read_policy
        self.token_policy = token_policy
        self.visibility_waits = visibility_waits
        self._limiter = anyio.CapacityLimiter(thread_limit)
        if boto_client is None:
            session = session or boto_session(profile, region)
            boto_client = session.create_client(
                "codeartifact", region_name=region, endpoint_url=endpoint_url,
                config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                              max_pool_connections=thread_limit,
                              connect_timeout=connect_timeout, read_timeout=read_timeout))
        self.session = session  # None when a client was injected
        self.connect_timeout = connect_timeout
        self._described: dict[str, dict[str, Any]] = {}
        self._credential_method: str | None = None
        self.boto = boto_client
        self._token: str | None = None
        self._old_tokens: list[str] = []
        self._expires_at = 0.0
        self._refresh_at = 0.0
        self._token_lock = anyio.Lock()
        self.token_fetches = 0
        self._endpoints: dict[tuple[str, str], str] = {}
        self._endpoint_locks: dict[tuple[str, str], anyio.Lock] = {}
        # Versions whose completion found them not yet visible (read lag longer than
        # visibility_waits): the UpdatePackageVersionsStatus fallback is owed once they show.
        self._owed_completion: set[tuple[str, str, str, str, str]] = set()
        # False when every version published is verified afterwards by this client (a run):
        # the DescribePackageVersion that confirms a release is Published is then left to the
        # verification, which reads it anyway and completes a version still Unfinished.
        self.confirm_completion = confirm_completion
        # True in a run (which verifies everything it publishes): the look a publisher takes
        # before its first upload of a version nobody has touched (every asset still
        # discovered) is answered from one ListPackageVersions of the package, shared by
        # all its versions, instead of a ListPackageVersionAssets per version; a version the
        # listing holds is still looked up asset by asset, and so is every later look.
        self.first_look_from_listing = first_look_from_listing
        # (when read, version names, whether the package exists)
        self._listings: OrderedDict[tuple[str, str, str, str],
                                    tuple[float, frozenset[str], bool]] = OrderedDict()
        self._listing_locks: dict[tuple[str, str, str, str], anyio.Lock] = {}
        self._looked: OrderedDict[tuple[int, int, str], None] = OrderedDict()
        self.status_reads = StatusReads()  # its short window is real time, never a fake clock's
        self.http = NativeHttp(_TokenAuth(self), writes=self.limits.writes,
                               reads=self.limits.reads, target_name="CodeArtifact",
                               write_policy=write_policy, read_policy=read_policy, sleep=sleep,
                               transport=http_transport,
                               max_connections=max(thread_limit * 4, 256))
        # Control-plane calls signed by botocore but sent on the event loop (no thread per
        # call); a test's fake boto client keeps the thread path.
        self._signed = (SignedCalls.for_client(boto_client, session, self.http.client)
                        if signed_calls else None)

    @classmethod
    def from_manifest(cls, manifest: Manifest, **kwargs: Any) -> CodeArtifactClient:
        """From the manifest's `[target]` and `options.rate_budget`."""
        t = manifest.target
        kwargs.setdefault("rate_budget", manifest.options.rate_budget)
        return cls(domain=t.domain, domain_owner=t.domain_owner, region=t.region,
                   profile=t.profile, endpoint_url=t.endpoint_url, **kwargs)

    @classmethod
    def for_preflight(cls, manifest: Manifest, *, timeout: float = 5.0,
                      **kwargs: Any) -> CodeArtifactClient:
        """A client for preflight probes: one attempt per call, `timeout` seconds to connect
        and to read (an endpoint that refuses or does not resolve is the answer).

        :raises CredentialsRefused: the `[target] profile` is not in the AWS config files.
        """
        kwargs.update(connect_timeout=timeout, read_timeout=timeout * 2, write_policy=PREFLIGHT,
                      read_policy=PREFLIGHT, token_policy=PREFLIGHT, thread_limit=16,
                      visibility_waits=(), signed_calls=False)  # a handful of calls; botocore's
        # own error texts are what the preflight lines quote
        try:
            return cls.from_manifest(manifest, **kwargs)
        except botocore.exceptions.ProfileNotFound as exc:
            raise CredentialsRefused(
                f"AWS profile {manifest.target.profile!r} ([target] profile) is not in the "
                f"AWS config files ({exc})",
                hint="add it (aws configure --profile NAME) or fix [target] profile") from None

    @property
    def control_endpoint(self) -> str:
        """The control-plane URL the botocore client talks to (for messages)."""
        url = getattr(getattr(self.boto, "meta", None), "endpoint_url", None)
        return str(url or self.endpoint_url or f"https://codeartifact.{self.region}.amazonaws.com")

    async def __aenter__(self) -> CodeArtifactClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP pool and forget the token."""
        await self.http.aclose()
        _REDACTOR.secrets.difference_update(self.secrets())
        self._token = None

    def secrets(self) -> list[str]:
        return [t for t in (self._token, *self._old_tokens) if t]

    # -- plumbing ------------------------------------------------------------------------------
    def _translate(self, exc: Exception, operation: str) -> Exception:
        where = f"CodeArtifact {operation} ({self.domain})"
        if isinstance(exc, botocore.exceptions.ClientError):
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            message = redact(str(error.get("Message", "")), self.secrets())
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            text = f"{where}: {code}: {message}"
            if code == "ThrottlingException" or status == 429:
                after = exc.response.get("retryAfterSeconds")
                if after is None:
                    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
                    after = headers.get("retry-after")
                try:
                    retry_after = float(after) if after is not None else None
                except ValueError:
                    retry_after = None
                return Throttled(text, retry_after=retry_after, status=status or 429)
            if code == "ConflictException" or status == 409:
                return AlreadyExists(text)
            if code == "ResourceNotFoundException":
                error = NotFound(text)
                if operation in _WHOLE_TARGET:
                    # the domain or the repository is missing: no package can succeed
                    error.systemic = text
                return error
            if (code == "AccessDeniedException" or status == 403) and \
                    code not in _CREDENTIAL_CODES and operation not in _WHOLE_TARGET:
                # The credentials work (they signed the call) and the domain answers: a policy
                # refuses this package (origin controls, a package group): that package fails.
                return PublishRefused(text, status=status or 403)
            if code in _AUTH_CODES or status == 401:
                return CredentialsRefused(
                    text, status=status,
                    hint="check the AWS credentials, the profile and the IAM permissions "
                         "(codeartifact:* for this domain, sts:GetServiceBearerToken)")
            retryable = code in _RETRYABLE_CODES or (status or 0) >= 500 or status == 408
            return PublishError(text, retryable=retryable, status=status)
        if isinstance(exc, botocore.exceptions.NoCredentialsError |
                      botocore.exceptions.PartialCredentialsError |
                      botocore.exceptions.ProfileNotFound):
            return CredentialsRefused(f"{where}: {exc}",
                                      hint="set AWS credentials or [target] profile")
        if isinstance(exc, botocore.exceptions.SSLError):
            error = PublishError(f"{where}: {root_cause(exc)}", retryable=False,
                                 hint="the endpoint's TLS certificate does not verify: check "
                                 "[target] endpoint_url and the CA bundle (AWS_CA_BUNDLE)")
            error.systemic = f"the CodeArtifact endpoint is not trusted: {root_cause(exc)}"
            return error
        if isinstance(exc, _TRANSPORT):
            cause = root_cause(exc)
            error = Unreachable(f"{where}: {cause} to {self.control_endpoint}")
            error.retryable = not is_configuration_failure(exc)
            if isinstance(exc, _UNREACHABLE):
                error.systemic = (f"the CodeArtifact endpoint {self.control_endpoint} is "
                                  f"unreachable: {cause}")
            return error
        if isinstance(exc, botocore.exceptions.ParamValidationError):
            return PublishError(f"{where}: invalid request: {exc}", retryable=False)
        if isinstance(exc, botocore.exceptions.BotoCoreError):
            return PublishError(f"{where}: {type(exc).__name__}: {exc}", retryable=True)
        if isinstance(exc, httpx.TransportError):  # a signed call sent through httpx
            cause = redact(root_cause(exc), self.secrets())
            error = Unreachable(f"{where}: {cause} to {self.control_endpoint}")
            error.retryable = not is_configuration_failure(exc)
            if is_connect_failure(exc) or is_configuration_failure(exc):
                error.systemic = (f"the CodeArtifact endpoint {self.control_endpoint} is "
                                  f"unreachable: {cause}")
            return error
        return exc

    async def _call(self, operation: str, *, buckets: Sequence[AdaptiveBucket] | None = None,
                    policy: RetryPolicy, **params: Any) -> dict[str, Any]:
        """One control-plane call: buckets, a worker thread, retries, translated errors.

        `buckets` defaults to the operation's quota classes (`RateLimits.buckets`): the
        account's read or write bucket plus the operation's own quota where it has one."""
        if buckets is None:
            buckets = self.limits.buckets(operation)
        method = getattr(self.boto, _snake(operation))
        async for attempt in policy.retrying(sleep=self.sleep, what=f"CodeArtifact {operation}"):
            with attempt:
                granted = [await bucket.acquire() for bucket in buckets]
                call_params = {k: (v() if callable(v) else v) for k, v in params.items()}
                try:
                    if self._signed is not None and self._signed.handles(operation):
                        result = await self._signed.call(operation, call_params)
                    else:
                        result = await anyio.to_thread.run_sync(
                            functools.partial(method, **call_params), limiter=self._limiter)
                except Exception as exc:
                    translated = self._translate(exc, operation)
                    if isinstance(translated, Throttled):
                        for bucket, sent_at in zip(buckets, granted, strict=True):
                            bucket.on_throttle(translated.retry_after, sent_at=sent_at)
                    if translated is exc:
                        raise
                    raise translated from None
                finally:
                    body = call_params.get("assetContent")
                    if hasattr(body, "close"):
                        body.close()
                for bucket in buckets:
                    bucket.on_success()
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _coords(self, repository: str, fmt: Format | str, namespace: str, package: str
                ) -> dict[str, Any]:
        out: dict[str, Any] = {"domain": self.domain, "domainOwner": self.domain_owner,
                               "repository": repository, "format": str(fmt),
                               "package": package}
        if namespace:
            out["namespace"] = namespace
        return out

    # -- tokens and endpoints ------------------------------------------------------------------
    async def token(self) -> str:
        """The cached authorization token, refreshed `refresh_margin` before expiry."""
        now = self.clock()
        if self._token and now < self._refresh_at:
            return self._token
        if self._token and self._token_lock.locked() and now < self._expires_at - 5:
            return self._token  # another task is refreshing; the old token still works
        async with self._token_lock:
            if self._token and self.clock() < self._refresh_at:
                return self._token
            await self._fetch_token()
            assert self._token is not None
            return self._token

    async def _fetch_token(self) -> None:
        result = await self._call(
            "GetAuthorizationToken", buckets=(self.limits.token, self.limits.reads),
            policy=self.token_policy, domain=self.domain, domainOwner=self.domain_owner,
            durationSeconds=self.token_duration)
        token = result["authorizationToken"]
        _REDACTOR.secrets.add(token)
        expiration = result.get("expiration")
        now = self.clock()
        expires = expiration.timestamp() if hasattr(expiration, "timestamp") else (
            float(expiration) if expiration else now + self.token_duration)
        lifetime = max(60.0, expires - now)
        if self.token_duration:
            lifetime = min(lifetime, float(self.token_duration))  # a server clock ahead of ours
        if self._token:
            self._old_tokens = [*self._old_tokens[-3:], self._token]
        self._token = token
        register_secret(token)  # never in a log line, whatever logger prints it
        self._expires_at = now + lifetime
        self._refresh_at = now + lifetime - min(self.refresh_margin, lifetime / 2)
        self.token_fetches += 1
        logger.info("CodeArtifact authorization token for domain %s obtained; valid %.0f s",
                    self.domain, lifetime)

    async def invalidate_token(self, header: str | None = None) -> bool:
        """A native endpoint refused the token: drop it (once) so the next call fetches one."""
        async with self._token_lock:
            if self._token is None:
                return True
            if header is not None and self._token not in _decode_header(header):
                return True  # someone already replaced it: retry with the new one
            logger.warning("CodeArtifact refused the authorization token of domain %s; "
                           "fetching a new one", self.domain)
            self._old_tokens = [*self._old_tokens[-3:], self._token]
            self._token = None
            self._refresh_at = 0.0
            return True

    async def endpoint(self, repository: str, fmt: Format | str) -> str:
        """`GetRepositoryEndpoint`, cached, with a trailing slash; treated as opaque. Callers
        asking at once share one request."""
        key = (repository, str(fmt))
        if key in self._endpoints:
            return self._endpoints[key]
        async with self._endpoint_locks.setdefault(key, anyio.Lock()):
            if key not in self._endpoints:
                result = await self._call(
                    "GetRepositoryEndpoint", buckets=(self.limits.reads,),
                    policy=self.read_policy, domain=self.domain,
                    domainOwner=self.domain_owner, repository=repository, format=str(fmt),
                    endpointType=self.endpoint_type)
                url = result["repositoryEndpoint"]
                self._endpoints[key] = url if url.endswith("/") else url + "/"
        return self._endpoints[key]

    async def warm_up(self, needs: Iterable[tuple[str, Format | str]]) -> None:
        """The token and the native endpoints a run is about to use, fetched together before
        its first publish instead of one after another inside the first claims. A failure is
        left to the call that needs the answer, which reports it the usual way."""
        async def quietly(fetch: Callable[[], Any]) -> None:
            try:
                await fetch()
            except MigratorError as exc:
                logger.debug("warm-up: %s", exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(quietly, self.token)
            for repository, fmt in dict.fromkeys((r, str(f)) for r, f in needs):
                tg.start_soon(quietly, functools.partial(self.endpoint, repository, fmt))

    # -- reads ---------------------------------------------------------------------------------
    async def describe_version(self, repository: str, fmt: Format | str, namespace: str,
                               package: str, version: str) -> dict[str, Any] | None:
        """`DescribePackageVersion` → its `packageVersion`, or None when absent."""
        try:
            result = await self._call(
                "DescribePackageVersion", buckets=(self.limits.reads,),
                policy=self.read_policy, packageVersion=version,
                **self._coords(repository, fmt, namespace, package))
        except NotFound:
            return None
        return result["packageVersion"]

    async def list_assets(self, repository: str, fmt: Format | str, namespace: str,
                          package: str, version: str) -> dict[str, dict[str, Any]] | None:
        """`ListPackageVersionAssets` (all pages) → name → {size, md5, sha1, sha256, sha512}."""
        assets: dict[str, dict[str, Any]] = {}
        token: str | None = None
        while True:
            extra = {"nextToken": token} if token else {}
            try:
                result = await self._call(
                    "ListPackageVersionAssets",  # its own 200/s quota and the reads'
                    buckets=self.limits.buckets("ListPackageVersionAssets"),
                    policy=self.read_policy, packageVersion=version, maxResults=1000,
                    **self._coords(repository, fmt, namespace, package), **extra)
            except NotFound:
                return None
            for a in result.get("assets", []):
                assets[a["name"]] = {"size": a.get("size"), **normal_hashes(a.get("hashes"))}
            token = result.get("nextToken")
            if not token:
                return assets

    async def _list_versions(self, repository: str, fmt: Format | str, namespace: str,
                             package: str) -> list[dict[str, Any]] | None:
        """`ListPackageVersions`, all pages, every status (the API's default): the `versions`
        entries ({version, revision, status, origin}), or None when the package is not in
        the repository. A fresh read each time."""
        versions: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            extra = {"nextToken": token} if token else {}
            try:
                result = await self._call(
                    "ListPackageVersions", policy=self.read_policy, maxResults=1000,
                    **self._coords(repository, fmt, namespace, package), **extra)
            except NotFound:
                return None
            versions += result.get("versions", [])
            token = result.get("nextToken")
            if not token:
                return versions

    async def version_statuses(self, repository: str, fmt: Format | str, namespace: str,
                               package: str) -> dict[str, dict[str, Any]]:
        """version → {status, origin} of every version of the package (empty when the
        package does not exist), never cached."""
        listed = await self._list_versions(repository, fmt, namespace, package) or []
        return {v["version"]: {"status": v.get("status"), "origin": v.get("origin")}
                for v in listed}

    async def check_version(self, repository: str, fmt: Format | str, namespace: str,
                            package: str, version: str, *, batch: bool = False
                            ) -> VersionCheck:
        """Status, origin and asset hashes of one target version (absent: status None).

        The two reads go out together: verification waits one round trip, not two (the
        asset listing of a version that turns out absent is the price, paid only while
        polling for one that is not visible yet)."""
        found: dict[str, Any] = {}

        async def read(key: str, call: Any) -> None:
            found[key] = await call(repository, fmt, namespace, package, version)

        async def status() -> None:
            if not batch:
                found["described"] = await self.describe_version(repository, fmt, namespace,
                                                                 package, version)
                return
            # batched with the other versions of the package asked about now
            # (migrator/target/statuses.py)
            found["described"] = await self.status_reads.status(
                (repository, str(fmt), namespace, package), version,
                describe=lambda v: self.describe_version(repository, fmt, namespace,
                                                         package, v),
                listing=lambda: self.version_statuses(repository, fmt, namespace, package))

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(status)
                tg.start_soon(read, "assets", self.list_assets)
        except BaseExceptionGroup as group:
            raise first_error(group) from None
        described = found["described"]
        if described is None:
            return VersionCheck(status=None, origin=None)
        assets = found["assets"] or {}
        origin = (described.get("origin") or {}).get("originType")
        return VersionCheck(status=described.get("status"), origin=origin, assets=assets)

    async def check_claimed(self, version: ClaimedVersion) -> VersionCheck:
        """`check_version` for a claimed version, under the name the target uses for it (a
        Maven SNAPSHOT build lives in `1.0-SNAPSHOT` while it is the newest build, and in its
        timestamped Unlisted version afterwards)."""
        fmt, repo = version.format, _repository(version)
        check = VersionCheck(status=None, origin=None)
        # Versions this run published are batched per package. A pre-warmed one is not:
        # versions ingested from an external connection take about 3 minutes to show in the
        # list APIs (reference §6), so only DescribePackageVersion confirms them in time.
        batch = version.mode != "prewarm"
        for name in target_version_names(version):
            check = await self.check_version(repo, fmt, version.namespace, version.package,
                                             name, batch=batch)
            check = await self._pay_owed_completion(version, name, check)
            if check.status is not None and _holds_build(version, name, check):
                return check
        return check

    async def _pay_owed_completion(self, version: ClaimedVersion, target_version: str,
                                   check: VersionCheck) -> VersionCheck:
        """A version this client published but could not see within `visibility_waits`
        shows Unfinished now: the fallback `complete_version` owed it happens here, during
        the verification's polling. Only what this client published is ever completed, so
        a read-only `verify` (a fresh client) never writes."""
        key = (_repository(version), str(version.format), version.namespace, version.package,
               target_version)
        if key not in self._owed_completion or check.status is None:
            return check
        self._owed_completion.discard(key)
        if check.status != "Unfinished":
            return check
        logger.info("%s %s is visible now and still Unfinished: completing it",
                    version.package, target_version)
        await self._complete(version, target_version)
        return await self.check_version(key[0], version.format, version.namespace,
                                        version.package, target_version)

    # -- writes --------------------------------------------------------------------------------
    async def update_status(self, repository: str, fmt: Format | str, namespace: str,
                            package: str, versions: Sequence[str], *,
                            target_status: str = "Published",
                            expected_status: str | None = None) -> dict[str, Any]:
        """`UpdatePackageVersionsStatus`; returns {successfulVersions, failedVersions}."""
        extra = {"expectedStatus": expected_status} if expected_status else {}
        return await self._call(
            "UpdatePackageVersionsStatus", buckets=(self.limits.writes,),
            policy=self.write_policy, versions=list(versions), targetStatus=target_status,
            **self._coords(repository, fmt, namespace, package), **extra)

    async def put_origin_configuration(self, repository: str, fmt: Format | str,
                                       namespace: str, package: str, *, publish: str = "ALLOW",
                                       upstream: str = "BLOCK") -> dict[str, Any]:
        """`PutPackageOriginConfiguration` (works before the package exists)."""
        return await self._call(
            "PutPackageOriginConfiguration", buckets=(self.limits.writes,),
            policy=self.write_policy,
            restrictions={"publish": publish, "upstream": upstream},
            **self._coords(repository, fmt, namespace, package))

    async def publish_generic(self, repository: str, namespace: str, package: str,
                              version: str, asset_name: str, path: Path, sha256: str, *,
                              unfinished: bool) -> dict[str, Any]:
        """`PublishPackageVersion` of one generic asset, streamed from `path`.

        :raises AlreadyExists: the asset (or a Published version) is already there.
        """
        return await self._call(
            "PublishPackageVersion", buckets=(self.limits.writes, self.limits.publish),
            policy=self.write_policy, packageVersion=version, assetName=asset_name,
            assetContent=lambda: open(path, "rb"),  # closed by _call
            assetSHA256=sha256, unfinished=unfinished,
            **self._coords(repository, Format.GENERIC, namespace, package))

    # -- the Target protocol -------------------------------------------------------------------
    async def asset_hashes(self, version: ClaimedVersion, target_version: str
                           ) -> dict[str, dict[str, Any]] | None:
        repo = _repository(version)
        if self._first_look(version, target_version):
            listed = await self.package_versions(repo, version.format, version.namespace,
                                                 version.package)
            if target_version not in listed:
                return None
        return await self.list_assets(repo, version.format, version.namespace,
                                      version.package, target_version)

    def _first_look(self, version: ClaimedVersion, target_version: str) -> bool:
        """The claim's first look at its own version, for a version no attempt touched.

        Only the claimed version itself: the listing may be older than this run's own
        publishes of other versions (a SNAPSHOT build asking about the newer build or the
        `X-SNAPSHOT` version another claim just published), so those are always read
        afresh."""
        if not self.first_look_from_listing or target_version != version.version \
                or not version.assets or any(a.status != _UNTOUCHED for a in version.assets):
            return False
        key = (version.id, version.attempts, target_version)
        if key in self._looked:
            return False
        self._looked[key] = None
        if len(self._looked) > _LISTINGS_KEPT:
            self._looked.popitem(last=False)
        return True

    async def package_versions(self, repository: str, fmt: Format | str, namespace: str,
                               package: str) -> frozenset[str]:
        """Every version name of one package (`ListPackageVersions`, all pages, any
        status), fetched once per package and kept `_LISTING_SECONDS`; empty when the
        package does not exist."""
        key = (repository, str(fmt), namespace, package)
        async with self._listing_locks.setdefault(key, anyio.Lock()):
            kept = self._listings.get(key)
            if kept is not None and time.monotonic() - kept[0] < _LISTING_SECONDS:
                self._listings.move_to_end(key)
                return kept[1]
            listed = await self._list_versions(repository, fmt, namespace, package)
            names = frozenset(v["version"] for v in listed or ())
            self._listings[key] = (time.monotonic(), names, listed is not None)
            if len(self._listings) > _LISTINGS_KEPT:
                old, _ = self._listings.popitem(last=False)
                self._listing_locks.pop(old, None)
            return self._listings[key][1]

    async def package_exists(self, repository: str, fmt: Format | str, namespace: str,
                             package: str) -> bool:
        """Whether the package is in the repository (with versions or without: an origin
        configuration alone makes one), from the listing `package_versions` keeps, so the
        first look at a package and this question cost one ListPackageVersions."""
        await self.package_versions(repository, fmt, namespace, package)
        return self._listings[(repository, str(fmt), namespace, package)][2]

    async def complete_version(self, version: ClaimedVersion, target_version: str) -> str | None:
        """Make sure the version is Published: describe it, and if it is still Unfinished call
        `UpdatePackageVersionsStatus` (the documented fallback of reference §2.3).

        Without `confirm_completion`, a release (`target_version` is the version itself) is
        not described here: the completion is owed, and `check_claimed` pays it if the
        verification finds the version Unfinished (None is returned: status unknown yet).
        A SNAPSHOT build's status decides what happens next, so it is always described."""
        repo = _repository(version)
        if not self.confirm_completion and target_version == version.version:
            self._owed_completion.add((repo, str(version.format), version.namespace,
                                       version.package, target_version))
            return None
        return await self._complete(version, target_version)

    async def _complete(self, version: ClaimedVersion, target_version: str) -> str | None:
        repo = _repository(version)
        described = None
        for wait in (0.0, *self.visibility_waits):  # reads lag writes by about a second
            if wait:
                await (self.sleep or anyio.sleep)(wait)
            described = await self.describe_version(repo, version.format, version.namespace,
                                                    version.package, target_version)
            if described is not None:
                break
        if described is None:
            # Not visible yet: the engine's verification polls on, and pays the fallback
            # if the version then shows Unfinished (`check_claimed`).
            self._owed_completion.add((repo, str(version.format), version.namespace,
                                       version.package, target_version))
            return None
        status = described.get("status")
        if status == "Unfinished":
            result = await self.update_status(repo, version.format, version.namespace,
                                              version.package, [target_version],
                                              expected_status="Unfinished")
            ok = result.get("successfulVersions", {}).get(target_version)
            if ok is None:
                failed = result.get("failedVersions", {}).get(target_version, {})
                if failed.get("errorCode") == "MISMATCHED_STATUS":
                    return await self._complete(version, target_version)
                raise PublishError(
                    f"CodeArtifact UpdatePackageVersionsStatus could not publish "
                    f"{version.package} {target_version}: {failed.get('errorCode')} "
                    f"{failed.get('errorMessage')}",
                    retryable=failed.get("errorCode") in ("NOT_FOUND", "SKIPPED"))
            status = ok.get("status", "Published")
        return status


def _snake(operation: str) -> str:
    out = []
    for ch in operation:
        if ch.isupper() and out:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _decode_header(header: str) -> str:
    import base64

    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value).decode()
        except (ValueError, UnicodeDecodeError):
            return ""
    return value


def _repository(version: ClaimedVersion) -> str:
    if not version.target_repository:
        raise PublishError(f"{version.package} {version.version} has no target repository "
                           "(mode skip?)", retryable=False)
    return version.target_repository


def _holds_build(version: ClaimedVersion, target_version: str, check: VersionCheck) -> bool:
    """A `-SNAPSHOT` target version only counts when it holds this build's files."""
    if target_version == version.version:
        return True
    names = {asset_name(version, a) for a in version.assets}
    return bool(names & set(check.assets))

