"""Per-account request quotas of reference §9, enforced over a sliding one-second window.

A request is refused with 429 `ThrottlingException` and `Retry-After` when any quota that
applies to it already saw its limit in the last second: the account-wide read or write
quota, the operation's own quota, and the per-token (or, without a token, per-IP) quota.
Native Maven/npm/PyPI writes count as account writes and reads as account reads (§9 marks
this [UNCERTAIN]; it is the only quota that fits). Every quota can be scaled or switched off.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_LIMITS: dict[str, float] = {
    "write": 100,
    "read": 800,
    "per-token": 1200,
    "per-ip-unauthenticated": 600,
    "CopyPackageVersions": 5,
    "GetAuthorizationToken": 40,
    "GetPackageVersionAsset": 50,
    "ListPackageVersionAssets": 200,
    "ListPackageVersions": 200,
    "ListPackages": 200,
    "PublishPackageVersion": 10,
}


@dataclass
class QuotaConfig:
    enabled: bool = True
    scale: float = 1.0  # multiplies every limit (0.1 = a tenth of AWS's rates)
    overrides: dict[str, float | None] = field(default_factory=dict)  # None/0 = switched off

    def limit(self, name: str) -> float | None:
        if not self.enabled:
            return None
        value = self.overrides.get(name, DEFAULT_LIMITS.get(name))
        if not value:
            return None
        return value * self.scale


def is_read_operation(name: str) -> bool:
    return name.startswith(("Get", "List", "Describe"))


class Quotas:
    def __init__(self, config: QuotaConfig | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or QuotaConfig()
        self.clock = clock
        self._windows: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def keys_for(self, operation: str | None, is_write: bool, token: str | None,
                 client_ip: str, native: bool = False) -> list[tuple[str, str]]:
        """(window key, quota name) pairs that apply to one request."""
        keys = [("write", "write") if is_write else ("read", "read")]
        if operation and operation in DEFAULT_LIMITS:
            keys.append((operation, operation))
        if not native:
            return keys  # control-plane calls are SigV4-signed, not token-authenticated
        if token:
            keys.append((f"token:{token}", "per-token"))
        else:
            keys.append((f"ip:{client_ip}", "per-ip-unauthenticated"))
        return keys

    def admit(self, keys: list[tuple[str, str]]) -> tuple[bool, float, str]:
        """Record the request if every quota has room; else (False, retry_after, quota)."""
        now = self.clock()
        with self._lock:
            for key, quota in keys:
                limit = self.config.limit(quota)
                if limit is None:
                    continue
                window = self._windows.setdefault(key, deque())
                while window and window[0] <= now - 1.0:
                    window.popleft()
                if len(window) >= limit:
                    return False, window[0] + 1.0 - now, quota
            for key, quota in keys:
                if self.config.limit(quota) is not None:
                    self._windows.setdefault(key, deque()).append(now)
        return True, 0.0, ""
