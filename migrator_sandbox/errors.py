"""The sandbox's own exception tree; it shares no code with the core (`migrator`).

    SandboxError       what the sandbox raises on purpose; `migrator sandbox` prints it as one
    │                  `error: ...` line on stderr and exits 2
    └── SeedError      the seed directory or its repos.toml is wrong: names the file, the key,
                       what is wrong and the fix
"""

from __future__ import annotations


class SandboxError(Exception):
    """Root of every error the sandbox raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class SeedError(SandboxError):
    """A seed problem, located by file and (when there is one) key."""

    def __init__(self, path: str, key: str | None, problem: str, fix: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        self.fix = fix
        where = f"{path}: {key}" if key else path
        super().__init__(f"{where}: {problem}", hint=fix)
