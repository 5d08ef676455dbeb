"""Target-side errors with what the engine needs to decide: retry later, or give up for good.

    TargetError (migrator.errors)
    ├── PublishError              one request failed; `retryable`, `status`, `retry_after`
    │   ├── Throttled             429 / ThrottlingException (retryable, with the server's wait)
    │   ├── AlreadyExists         409: the caller compares hashes, it is not a failure by itself
    │   ├── NotFound              404 / ResourceNotFoundException
    │   ├── Unreachable           no answer: connection refused, unknown host, timeout (retryable)
    │   └── PublishRefused        403 / AccessDeniedException on one package: a policy (origin
    │                             controls, a package group, a resource policy) refuses it;
    │                             that package fails, the run goes on (never retryable)
    └── TargetAuthError (migrator.errors)
        └── CredentialsRefused    the token (401) or the credentials were refused, or access to
                                  the domain itself (AccessDenied on GetAuthorizationToken,
                                  GetRepositoryEndpoint, ...): the run stops (never retryable)

Messages name the target ("CodeArtifact ...", or the registry's URL) and never carry a token:
`redact()` removes every secret the client knows before a message is built.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from migrator.errors import TargetAuthError, TargetError

__all__ = [
    "AlreadyExists",
    "CredentialsRefused",
    "NotFound",
    "PublishError",
    "PublishRefused",
    "Throttled",
    "Unreachable",
    "redact",
]


class PublishError(TargetError):
    """A target request that failed; `retryable` tells the engine failed_retryable vs
    failed_permanent."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None,
                 retry_after: float | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class Throttled(PublishError):
    """The target asked us to slow down (HTTP 429, ThrottlingException)."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 status: int = 429) -> None:
        super().__init__(message, retryable=True, status=status, retry_after=retry_after)


class AlreadyExists(PublishError):
    """HTTP 409 / ConflictException: something is already stored under that name."""

    def __init__(self, message: str, *, status: int = 409) -> None:
        super().__init__(message, retryable=False, status=status)


class NotFound(PublishError):
    """HTTP 404 / ResourceNotFoundException."""

    def __init__(self, message: str, *, status: int = 404) -> None:
        super().__init__(message, retryable=False, status=status)


class Unreachable(PublishError):
    """The endpoint did not answer (refused connection, unknown host, timeout); the message
    names the root cause and the endpoint."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class PublishRefused(PublishError):
    """HTTP 403 / AccessDeniedException for one package: a policy refuses it (publish=BLOCK
    in its origin configuration, a package group whose PUBLISH is BLOCK or allows other
    repositories only, a repository or domain policy). Not the token, not the domain: that
    package fails with the server's reason and the run goes on."""

    HINT = ("check the package's origin configuration (publish=ALLOW), the PUBLISH "
            "restriction of its package group, and the policies that allow "
            "codeartifact:PublishPackageVersion on it")

    def __init__(self, message: str, *, status: int = 403, hint: str | None = HINT) -> None:
        super().__init__(message, retryable=False, status=status, hint=hint)
        # IAM's own wording ("... is not authorized to perform: codeartifact:X on ...") says
        # the identity lacks the action, which no package can escape: a whole-system
        # condition, so a run whose every publish is refused stops instead of failing each.
        denied = _NOT_AUTHORIZED.search(message)
        if denied:
            self.systemic = (f"the AWS identity is not allowed {denied.group(1)} "
                             "(IAM refuses it)")


_NOT_AUTHORIZED = re.compile(r"is not authorized to perform:?\s*([\w:*-]+)")


class CredentialsRefused(TargetAuthError):
    """The credentials or the token were refused; a person must fix them."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret replaced by `<redacted>`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "<redacted>")
    return text
