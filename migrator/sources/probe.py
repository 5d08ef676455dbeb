"""Preflight of a source server: reachable, credentials accepted, every mapped repository there.

The steps every server kind shares; each crawler adds what only it knows (its ping path and
how it can tell whether the crawl identity reads a repository fully) and calls
`probe_source` from its `probe` method. Requests use short timeouts and
`migrator.retry.PREFLIGHT` (the crawler is built with it and `PROBE_TIMEOUT`): a refused
connection or an unknown host is the answer at once, not something to wait out; a 5xx or a
429 on the way is tried again a few times.

Each result is one `Check` line naming the system, the object and, when something is wrong,
the fix. A step that cannot succeed stops the ones after it (no repository checks against a
server that does not answer).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import httpx

from migrator.errors import SourceAuthError, SourceError, did_you_mean, root_cause
from migrator.manifest import RepositoryMapping
from migrator.models import Check, RepoType, SourceRepository
from migrator.sources import Crawler, SourceProbe
from migrator.sources.http import redact

__all__ = ["Found", "probe_source"]

Found = list[tuple[RepositoryMapping, SourceRepository]]
ReadAccess = Callable[[Found], Awaitable[list[Check]]]


async def probe_source(crawler: Crawler, mappings: Sequence[RepositoryMapping], *,
                       ping_path: str, credentials: str, read_access: ReadAccess,
                       hint_url: str) -> SourceProbe:
    """Reachable → credentials → each mapped repository → read access, as `Check` lines.

    `credentials` says where they come from ("NEXUS_USERNAME/NEXUS_PASSWORD"), for messages;
    `hint_url` what a right `[source] url` looks like for this kind of server.
    """
    system = crawler.system
    base = redact(str(crawler.http.client.base_url).rstrip("/"))
    out = SourceProbe()
    # 1. Reachable: any HTTP answer will do (some servers want credentials even for a ping).
    try:
        response = await crawler.http.client.get(ping_path)
    except httpx.TransportError as exc:
        url = crawler.http.url_of(exc, ping_path)
        out.checks.append(Check.failure(
            system, "reachable",
            f"{system} at {base} is unreachable: {root_cause(exc)} to {url}; check [source] "
            f"url and that the server is up and reachable from here (DNS, proxy, firewall)"))
        return out
    status = response.status_code
    if status == 404 or status >= 500:
        problem = ("is not the server's API (HTTP 404)" if status == 404
                   else f"answered HTTP {status}")
        fix = (f"[source] url must be the base URL of the server, e.g. {hint_url}"
               if status == 404 else "the server is failing; try again once it is healthy")
        out.checks.append(Check.failure(
            system, "reachable", f"{system} at {base}: {redact(response.url)} {problem}; {fix}"))
        return out
    server = response.headers.get("server")
    out.checks.append(Check.ok(system, "reachable", f"{system} at {base} answers"
                               + (f" ({server})" if server else "")))
    # 2. Credentials: the repository list needs them (and is filtered by what they may see).
    try:
        repositories = await crawler.repositories()
    except SourceAuthError as exc:
        status_text = "rejected the credentials" if "401" in exc.message else "refused access"
        out.checks.append(Check.failure(
            system, "credentials",
            f"{system} at {base} {status_text} from {credentials}: {exc.message}; fix the "
            f"values of those environment variables (the user needs read/browse rights on "
            f"the mapped repositories)"))
        return out
    except SourceError as exc:
        out.checks.append(Check.failure(
            system, "repositories", f"{system} at {base} could not list its repositories: "
            f"{exc.message}" + (f"; {exc.hint}" if exc.hint else "")))
        return out
    out.repositories = {r.name: r for r in repositories}
    out.checks.append(Check.ok(
        system, "credentials", f"{system} accepted the credentials from {credentials} "
        f"({len(repositories)} repositories of supported formats visible)"))
    # 3. Each mapped repository: there, of the expected format, not a group.
    found: Found = []
    names = sorted(out.repositories)
    for mapping in mappings:
        repo = out.repositories.get(mapping.source)
        subject = f"repository {mapping.source}"
        if repo is None:
            out.checks.append(Check.failure(
                system, subject,
                f"{system} repository {mapping.source!r} does not exist at {base} (or is of a "
                f"format migrator does not migrate, or not visible to this user); "
                f"{did_you_mean(mapping.source, names)}fix [[repositories]] source, or "
                f"grant the user read on it"))
            continue
        if mapping.format is not None and mapping.format is not repo.format:
            out.checks.append(Check.failure(
                system, subject,
                f"{system} repository {mapping.source!r} holds {repo.format} packages but the "
                f"manifest says format {mapping.format}; fix [[repositories]] format (or "
                f"leave it out to take the server's)"))
            continue
        if repo.type is RepoType.GROUP:
            out.checks.append(Check.warning(
                system, subject,
                f"{system} repository {mapping.source!r} is a group/virtual repository: plan "
                f"skips it (it only repeats its members); map its members instead, or set "
                f"mode = 'skip'"))
            continue
        note = (" (a proxy cache: pre-warmed through the target's upstreams, not copied)"
                if repo.type is RepoType.PROXY and mapping.mode == "copy" else "")
        out.checks.append(Check.ok(
            system, subject,
            f"{system} repository {mapping.source!r} found ({repo.format}, {repo.type}){note}"))
        found.append((mapping, repo))
    # 4. Can the crawl identity read each of them fully?
    if found:
        out.checks.extend(await read_access(found))
    return out
