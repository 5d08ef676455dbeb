"""The exception tree of migrator; the CLI catches `MigratorError` in one place.

                                  exit  retryable
    MigratorError                   2    no      the root
    ├── ConfigError                 2    no      the manifest or the command line is wrong
    │   ├── ManifestError           2    no      names the file, the key, what is wrong, the fix
    │   ├── PreflightFailed         2    no      every problem the preflight checks found, one
    │   │                                        line each: system, object, fix
    │   └── LockfileError           2    no      a lockfile that cannot be read: file, entry, fix
    ├── StateError                  2    no      the state file is unusable
    │   ├── StateCorruptError       2    no      its pages are damaged: restore a backup
    │   ├── StateLockedError        2    no      another process holds the state; names it
    │   ├── IllegalTransition       2    no      a status change the machine forbids (a bug)
    │   └── ReportInconsistent      2    no      per-status totals that do not add up to the
    │                                            state's assets: no report is written
    ├── CertificateInvalid          2    no      a completeness certificate edited or cut short
    ├── SourceError                 1    yes     Nexus / Artifactory failed (an answer such as
    │   │                                        404 sets `retryable = False` on the instance)
    │   ├── SourceAuthError         2    no      the source rejected the credentials
    │   ├── CrawlShortfall          2    no      a crawl listed fewer files than the server
    │   │                                        counts (hidden by permissions); both numbers
    │   └── ChecksumMismatch        1    no      (migrator.sources.download) bytes ≠ listing
    ├── TargetError                 1    yes     CodeArtifact failed
    │   ├── PublishError            1    (set)   (migrator.target.errors) one request failed
    │   └── TargetAuthError         2    no      AWS rejected the credentials or the token
    │   └── ListingLoop             1    no      a listing that goes round in a circle (a
    │                                            repeated token, pages adding nothing)
    ├── SpoolFullError              1    yes     no room in the spool folder for a download
    ├── UnsafePathError             2    no      a path from a source listing tries to escape
    ├── SystemFailing             2/3    no      many versions in a row failed the same way
    │                                            (an endpoint unreachable): the run stopped
    │                                            (2 when nothing was done yet, else 3)
    └── Interrupted                 3    no      SIGINT/SIGTERM: stopped cleanly, resumable

`retryable` is the one statement of whether trying again can help: `migrator.retry` reads it
both to repeat a request and to put a package version back in the queue with a back-off.
`systemic`, when set, says the error is about a whole system rather than one package (an
endpoint that refuses connections): it names that condition, so the engine can see the same
one failing version after version and stop instead of failing everything.

Every message says what happened and what to do next. Messages never carry secrets:
credentials are only ever read from the environment and are not formatted into errors.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence


class MigratorError(Exception):
    """Root of every error migrator raises on purpose."""

    exit_code = 2
    #: Whether trying again later can succeed; subclasses and instances refine it.
    retryable = False
    #: The whole-system condition this error shows (e.g. "CodeArtifact at https://... is
    #: unreachable: ConnectError: [Errno 111] Connection refused"), or None.
    systemic: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(MigratorError):
    """The manifest, the environment or the command line is wrong."""


class ManifestError(ConfigError):
    """A manifest problem, located by file and key."""

    def __init__(self, path: str, key: str, problem: str, fix: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        self.fix = fix
        super().__init__(f"{path}: {key}: {problem}", hint=fix)


class PreflightFailed(ConfigError):
    """The preflight checks found problems; `failures` holds every one of them, one line each
    naming the system, the object and the fix (the message lists them all)."""

    def __init__(self, failures: Sequence[str], *, warnings: Sequence[str] = ()) -> None:
        self.failures = list(failures)
        self.warnings = list(warnings)
        n = len(self.failures)
        lines = "\n".join(f"  - {line}" for line in self.failures)
        super().__init__(
            f"preflight found {n} problem{'' if n == 1 else 's'}:\n{lines}",
            hint="fix each line above and run the command again; `migrator doctor MANIFEST` "
                 "re-checks without crawling or writing anything")


class LockfileError(ConfigError):
    """A lockfile (pre-warm input) that cannot be read: names the file, the entry and the fix."""


class StateError(MigratorError):
    """The state file cannot be used as it is."""


class StateCorruptError(StateError):
    """The state file's pages are damaged (SQLite: database disk image is malformed)."""


class StateLockedError(StateError):
    """Another process holds the state file."""


class IllegalTransition(StateError):
    """A status change the status machine does not allow; always a bug in the caller."""


class CertificateInvalid(MigratorError):
    """A completeness certificate that is not what `migrator report` wrote: unreadable, or its
    final line's count or digest does not match the lines above it (edited, cut short)."""


class ReportInconsistent(StateError):
    """The per-status totals of a state do not add up to its assets: a report refuses to
    show numbers that do not add up (a bug, or a state changed under the report)."""


class SourceError(MigratorError):
    """The source server (Nexus / Artifactory) failed or refused a request."""

    exit_code = 1
    retryable = True  # servers come back; an answer such as 404 clears it on the instance
    status: int | None = None  # the HTTP status of the answer, when there was one


class SourceAuthError(SourceError):
    """The source server rejected the credentials."""

    exit_code = 2  # retrying cannot help: a person must fix the credentials
    retryable = False


class CrawlShortfall(SourceError):
    """A crawl listed fewer files than the server says the repository holds: files the crawl
    user may not read are left out without notice (and a short page looks like the end)."""

    exit_code = 2  # a person must grant the permission; a retry lists the same files
    retryable = False

    def __init__(self, message: str, *, repository: str, listed: int, reported: int,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.repository = repository
        self.listed = listed
        self.reported = reported


class ListingLoop(SourceError):
    """A source listing that does not move forward: a continuation token handed out twice,
    or page after page adding nothing (`migrator.sources.paging`)."""

    retryable = False  # the same server hands out the same loop again


class TargetError(MigratorError):
    """CodeArtifact failed or refused a request."""

    exit_code = 1
    retryable = True


class TargetAuthError(TargetError):
    """AWS rejected the credentials or the CodeArtifact token."""

    exit_code = 2
    retryable = False


class SpoolFullError(MigratorError):
    """The spool folder's filesystem has no room for a download: a local condition that
    freeing space ends, so the version is retried later (and a resume proceeds)."""

    exit_code = 1
    retryable = True


class UnsafePathError(MigratorError):
    """A path from a source listing would escape its repository."""


class SystemFailing(MigratorError):
    """Package versions kept failing with the same whole-system error: the run stopped
    claiming, gave back what it held, and marked nothing as failed for good."""

    def __init__(self, condition: str, versions: int, *, progress: bool) -> None:
        super().__init__(
            f"stopped: {condition} ({versions} package versions in a row failed this way; "
            "none was given up)",
            hint="fix the cause, then run `migrator resume MANIFEST` (or the same "
            "`migrator run`) to continue where it stopped")
        self.condition = condition
        # Nothing done yet: as good as a configuration error. Otherwise: resumable.
        self.exit_code = 3 if progress else 2


class Interrupted(MigratorError):
    """The run was stopped by a signal; everything done so far is saved."""

    exit_code = 3


#: Errors that stop a whole run: a person must fix the credentials.
FATAL_ERRORS: tuple[type[MigratorError], ...] = (SourceAuthError, TargetAuthError)


def describe(exc: BaseException) -> str:
    """The reason text recorded for a failure: our own message, or `Type: text` for others;
    shortened (`shorten`), since it may quote a source's name of any length."""
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return shorten(text if isinstance(exc, MigratorError) else f"{type(exc).__name__}: {text}")


#: The longest reason or message quote kept whole: enough for a path and its cause.
SHORT_LIMIT = 600


def shorten(text: str, limit: int = SHORT_LIMIT) -> str:
    """`text` cut to at most `limit` characters, keeping its head and tail around an
    `…(N characters)…` marker: what a source sends (a 10,000-character file name) must not
    make a stored reason or a printed line that long, and the tail usually holds the cause."""
    if len(text) <= limit:
        return text
    marker = f"…({len(text)} characters)…"
    keep = max(limit - len(marker), 2)
    head = keep * 2 // 3
    return text[:head] + marker + text[len(text) - (keep - head):]


def root_cause(exc: BaseException) -> str:
    """What really failed under `exc`, for a one-line message: `Type: [Errno N] text` when an
    OS error (refused connection, unknown host, timeout) lies in its cause chain, else
    `Type: text`. `ConnectError: [Errno 111] Connection refused` instead of a bare class name
    or a wrapper's "All connection attempts failed"."""
    name = type(exc).__name__
    found: OSError | None = None
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and isinstance(current.errno, int):
            found = current
        current = current.__cause__ or current.__context__
    if found is not None:
        assert found.errno is not None
        text = os.strerror(found.errno) if found.errno > 0 else (found.strerror or str(found))
        return f"{name}: [Errno {found.errno}] {text}"
    text = " ".join(str(exc).split())
    return f"{name}: {text}" if text else name


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`did you mean 'x'? ` naming the closest of `known` (difflib; a difference in case only
    counts as close), or '' when none is close: for "not found" messages."""
    names = list(known)
    lower = {k.lower(): k for k in names}
    close = ([lower[name.lower()]] if name.lower() in lower
             else difflib.get_close_matches(name, names, n=1, cutoff=0.6))
    return f"did you mean {close[0]!r}? " if close else ""


def first_error(group: BaseExceptionGroup,
                prefer: tuple[type[BaseException], ...] = FATAL_ERRORS) -> BaseException:
    """The one error to report from a task group: one of `prefer` (a fatal error) first,
    then a MigratorError (it carries an actionable message), else the first leaf."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(exc.exceptions)
        else:
            leaves.append(exc)
    for kinds in (prefer, (MigratorError,)):
        for exc in leaves:
            if kinds and isinstance(exc, kinds):
                return exc
    return leaves[0]
