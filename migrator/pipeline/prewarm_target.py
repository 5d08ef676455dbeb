"""Which target repository pre-warms a format when the manifest does not say.

The issue's rule: a public package is requested through the native endpoint of the target
repository whose upstream chain ends in the matching external connection. With neither
`[prewarm.targets]` nor a pre-warm mapping of the format, the chain is read from CodeArtifact
(DescribeRepository, upstreams depth-first in their order: the order CodeArtifact itself
searches, `confusion.connection_owner`):

1. the repositories the manifest copies internal packages into (the team repositories; of
   that format first, else any), so builds resolve public and internal names through the
   same chain: the one of them that reaches the connection;
2. else every repository of the domain: the one that reaches the connection and is no other
   such repository's upstream (the end of the chain builds point at, not a store inside it).

Two candidates at the same step are ambiguous: a `ConfigError` names them and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from migrator.errors import ConfigError
from migrator.manifest import Manifest
from migrator.pipeline.confusion import connection_owner
from migrator.target.provision import RepositoryState, TargetControl

__all__ = ["find_prewarm_target", "team_repositories"]


async def find_prewarm_target(m: Manifest, control: TargetControl, fmt: str,
                              teams: Sequence[str],
                              cache: dict[str, RepositoryState | None] | None = None) -> str:
    """The repository pre-warming `fmt` (see the module doc).

    :raises ConfigError: none, or several, reach a `fmt` external connection."""
    cache = {} if cache is None else cache
    fix = (f"add [prewarm.targets] {fmt} = \"REPOSITORY\" to {m.path} (the repository builds "
           "use, whose upstream chain ends in the matching external connection)")
    reaching = [t for t in dict.fromkeys(teams)
                if await connection_owner(control, t, fmt, cache) is not None]
    if len(reaching) > 1:
        raise ConfigError(f"{m.path}: the {fmt} packages of the lockfiles could be pre-warmed "
                          f"through any of the team repositories {', '.join(reaching)} (each "
                          f"reaches an external connection for {fmt})", hint=fix)
    if reaching:
        return reaching[0]
    domain = await control.read(())
    names = sorted(domain.names)
    reach = [n for n in names if await connection_owner(control, n, fmt, cache) is not None]
    inner = {u for n in reach for u in ((cache.get(n) or RepositoryState(n)).upstreams)}
    ends = [n for n in reach if n not in inner]
    if len(ends) == 1:
        return ends[0]
    if not ends:
        raise ConfigError(f"{m.path}: no repository of domain {control.domain} reaches an "
                          f"external connection for {fmt} through its upstreams, so no lockfile "
                          f"package of that format can be pre-warmed",
                          hint="create one (`migrator target init` with an external_connection "
                          "in [[target.repositories]]), then " + fix)
    raise ConfigError(f"{m.path}: several repositories of domain {control.domain} end in an "
                      f"external connection for {fmt}: {', '.join(ends)}", hint=fix)


def team_repositories(rows: Sequence[Any], fmt: str) -> list[str]:
    """The targets of the state's copy repositories: those of `fmt` first, else all."""
    copy = [r for r in rows if r["mode"] == "copy" and r["target"]]
    same = [r["target"] for r in copy if r["format"] == fmt]
    return list(dict.fromkeys(same or [r["target"] for r in copy]))
