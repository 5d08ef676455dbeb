"""The exception tree of migrator; the CLI catches `MigratorError` in one place.

    MigratorError                 exit code 2 unless a subclass says otherwise
    ├── ConfigError               the manifest or the command line is wrong (exit 2)
    │   └── ManifestError         names the file, the key, what is wrong and the fix
    ├── StateError                the state file is unusable (exit 2)
    │   ├── StateLockedError      another process holds the state; names the holder
    │   └── IllegalTransition     a status change the status machine forbids (a bug)
    ├── SourceError               Nexus / Artifactory refused or broke (exit 1)
    │   └── SourceAuthError       the source rejected the credentials (exit 2)
    ├── TargetError               CodeArtifact refused or broke (exit 1)
    │   └── TargetAuthError       AWS rejected the credentials or the token (exit 2)
    ├── UnsafePathError           a path from a source listing tries to escape
    └── Interrupted               SIGINT/SIGTERM: the run stopped cleanly, resumable (exit 3)

Every message says what happened and what to do next. Messages never carry secrets:
credentials are only ever read from the environment and are not formatted into errors.
"""

from __future__ import annotations


class MigratorError(Exception):
    """Root of every error migrator raises on purpose."""

    exit_code = 2

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


class StateError(MigratorError):
    """The state file cannot be used as it is."""


class StateLockedError(StateError):
    """Another process holds the state file."""


class IllegalTransition(StateError):
    """A status change the status machine does not allow; always a bug in the caller."""


class SourceError(MigratorError):
    """The source server (Nexus / Artifactory) failed or refused a request."""

    exit_code = 1


class SourceAuthError(SourceError):
    """The source server rejected the credentials."""

    exit_code = 2  # retrying cannot help: a person must fix the credentials


class TargetError(MigratorError):
    """CodeArtifact failed or refused a request."""

    exit_code = 1


class TargetAuthError(TargetError):
    """AWS rejected the credentials or the CodeArtifact token."""

    exit_code = 2


class UnsafePathError(MigratorError):
    """A path from a source listing would escape its repository."""


class Interrupted(MigratorError):
    """The run was stopped by a signal; everything done so far is saved."""

    exit_code = 3


def first_error(group: BaseExceptionGroup,
                prefer: tuple[type[BaseException], ...] = ()) -> BaseException:
    """The one error to report from a task group: one of `prefer` first, then a
    MigratorError (it carries an actionable message), else the first leaf."""
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
