"""The target's shape in the manifest: `[[target.repositories]]` (what `migrator target
init` makes true), `[[namespaces]]` (internal namespaces, one package group each) and
`[options.prices]` (the plan's cost figures). Frozen values, each default written once, and
the parsing of those tables; `migrator.manifest` re-exports the values and calls the parsers
with its own, so every error names the file and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["EXTERNAL_CONNECTIONS", "KMS_RE", "MAX_UPSTREAMS", "Namespace", "Prices",
           "TargetRepository", "namespace_group_pattern", "namespaces", "prices",
           "target_repositories"]

#: External connections CodeArtifact offers (API reference, AssociateExternalConnection) and
#: the package format each serves.
EXTERNAL_CONNECTIONS = {
    "public:npmjs": "npm", "public:pypi": "pypi", "public:nuget-org": "nuget",
    "public:maven-central": "maven", "public:maven-googleandroid": "maven",
    "public:maven-gradleplugins": "maven", "public:maven-commonsware": "maven",
    "public:maven-clojars": "maven", "public:ruby-gems-org": "ruby",
    "public:crates-io": "cargo",
}
_PACKAGE_FORMATS = ("maven", "npm", "pypi", "nuget", "generic", "ruby", "cargo", "swift")
KMS_RE = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_+=.@-]+")
_TARGET_REPO_KEYS = ("name", "description", "upstreams", "external_connection", "formats")
_NAMESPACE_KEYS = ("format", "pattern", "description", "contact_info")
_PRICE_KEYS = ("storage_gb_month", "requests_per_10k")
#: A repository has at most 10 direct upstreams (CodeArtifact quota, not adjustable).
MAX_UPSTREAMS = 10


@dataclass(frozen=True, kw_only=True)
class TargetRepository:
    """One repository of `[[target.repositories]]`: what `migrator target init` makes true."""

    name: str
    description: str = ""
    #: Upstream repositories in search order (UpdateRepository replaces the list).
    upstreams: tuple[str, ...] = ()
    external_connection: str | None = None
    #: The formats the repository is meant for (empty: any). CodeArtifact repositories hold
    #: every format; this restricts which mappings may target it and which connection fits.
    formats: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Namespace:
    """An internal namespace (`[[namespaces]]`), protected by one package group."""

    format: str
    #: `@acme/*` (npm scope), `@acme/ui~` (npm name prefix in a scope), `com.acme~` (Maven
    #: groupId prefix), `com.acme/*` (one groupId), `acme-~` (PyPI name prefix).
    pattern: str
    description: str = ""
    contact_info: str = ""

    @property
    def group_pattern(self) -> str:
        """The CodeArtifact package group pattern (`/<format>/<namespace>/<name>` with `$`
        exact, `~` prefix, `*` all) covering this namespace."""
        return namespace_group_pattern(self.format, self.pattern)


_SEGMENT_RE = re.compile(r"[A-Za-z0-9._~-]*")


def namespace_group_pattern(fmt: str, pattern: str) -> str:
    """`@acme/*` → `/npm/acme/*`, `com.acme~` → `/maven/com.acme~`, `acme-~` →
    `/pypi//acme-~` (PyPI names normalised, as package groups match them).

    :raises ValueError: naming what is wrong with `pattern`.
    """
    if pattern.startswith(f"/{fmt}/"):
        return pattern  # written as a package group pattern already
    if fmt == "npm":
        scope, slash, rest = pattern.partition("/")
        if slash and scope.startswith("@"):
            ns, name = scope[1:], rest
        elif not slash:
            ns, name = "", pattern
        else:
            raise ValueError("an npm namespace is @scope/*, @scope/prefix~, @scope/name or "
                             "prefix~")
    elif fmt == "maven":
        ns, slash, name = pattern.partition("/")
        if not slash:
            if not ns.endswith("~"):
                raise ValueError("a Maven namespace is groupId~ (prefix), groupId/* or "
                                 "groupId/artifactId")
            return f"/maven/{ns}"
    elif fmt == "pypi":
        ns, name = "", re.sub(r"[-_.]+", "-", pattern.lower())
    else:
        raise ValueError(f"package groups for {fmt} are not supported here")
    if not name or not all(_SEGMENT_RE.fullmatch(x) for x in (ns, name.replace("*", "", 1)
                                                              if name == "*" else name)) \
            or "~" in name[:-1] or "~" in ns:
        raise ValueError(f"{pattern!r} is not a namespace pattern")
    if name == "*":
        if not ns:
            raise ValueError("'*' needs a namespace (npm scope, Maven groupId)")
        return f"/{fmt}/{ns}/*"
    return f"/{fmt}/{ns}/{name}" + ("" if name.endswith("~") else "$")


@dataclass(frozen=True, kw_only=True)
class Prices:
    """CodeArtifact's published prices (USD); prices change, so the manifest can override."""

    storage_gb_month: float = 0.05
    requests_per_10k: float = 0.05


# -- parsing (called by the manifest's parser, whose `fail`, `known`, `string`, `choice` name
# the file and the key) ------------------------------------------------------------------

def target_repositories(p: Any, value: Any, repo_re: re.Pattern[str]
                        ) -> tuple[TargetRepository, ...]:
    """`[[target.repositories]]`; `repo_re` is the manifest's repository name pattern."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise p.fail("target.repositories", "must be an array of tables",
                     "write each repository as a [[target.repositories]] table")
    out: list[TargetRepository] = []
    for i, r in enumerate(value):
        where = f"target.repositories[{i}]"
        p.known(r, f"{where}.", _TARGET_REPO_KEYS)
        name = p.string(r, "name", where, pattern=repo_re, what="CodeArtifact repository name",
                        example='"team-npm"')
        description = r.get("description", "")
        if not isinstance(description, str) or len(description) > 1000:
            raise p.fail(f"{where}.description", "must be text of at most 1000 characters",
                         'description = "Internal npm packages"')
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("upstreams", "formats"):
            items = r.get(key, [])
            if not isinstance(items, list) or not all(isinstance(x, str) and x for x in items):
                raise p.fail(f"{where}.{key}", "must be a list of names",
                             f'{key} = ["npm-store"]' if key == "upstreams"
                             else 'formats = ["npm"]')
            if len(set(items)) != len(items):
                raise p.fail(f"{where}.{key}", "lists a name twice", "keep each name once")
            lists[key] = tuple(items)
        for fmt in lists["formats"]:
            if fmt not in _PACKAGE_FORMATS:
                raise p.fail(f"{where}.formats", f"{fmt!r} is not a CodeArtifact format",
                             f"use {', '.join(_PACKAGE_FORMATS)}")
        if len(lists["upstreams"]) > MAX_UPSTREAMS:
            raise p.fail(f"{where}.upstreams", f"{len(lists['upstreams'])} upstreams; "
                         f"CodeArtifact allows at most {MAX_UPSTREAMS}",
                         "chain them through an intermediate repository")
        if name in lists["upstreams"]:
            raise p.fail(f"{where}.upstreams", "a repository cannot be its own upstream",
                         f"remove {name!r} from its upstreams")
        conn = p.string(r, "external_connection", where, required=False)
        if conn is not None:
            if conn not in EXTERNAL_CONNECTIONS:
                raise p.fail(f"{where}.external_connection", f"{conn!r} is not a CodeArtifact "
                             "external connection", "use one of "
                             + ", ".join(EXTERNAL_CONNECTIONS))
            fmt = EXTERNAL_CONNECTIONS[conn]
            if lists["formats"] and fmt not in lists["formats"]:
                raise p.fail(f"{where}.external_connection", f"{conn} serves {fmt}, not "
                             f"{', '.join(lists['formats'])}",
                             f"add {fmt!r} to formats or pick another connection")
        out.append(TargetRepository(name=name, description=description,
                                    upstreams=lists["upstreams"], external_connection=conn,
                                    formats=lists["formats"]))
    seen: set[str] = set()
    for i, r in enumerate(out):
        if r.name in seen:
            raise p.fail(f"target.repositories[{i}].name", f"{r.name!r} is listed twice",
                         "keep one [[target.repositories]] table per repository")
        seen.add(r.name)
    return tuple(out)


def namespaces(p: Any, value: Any) -> tuple[Namespace, ...]:
    """`[[namespaces]]`."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise p.fail("namespaces", "must be an array of tables",
                     "write each namespace as a [[namespaces]] table")
    out: list[Namespace] = []
    for i, n in enumerate(value):
        where = f"namespaces[{i}]"
        p.known(n, f"{where}.", _NAMESPACE_KEYS)
        fmt = p.choice(n, "format", where, ("maven", "npm", "pypi"), "")
        pattern = p.string(n, "pattern", where, example='"@acme/*"')
        try:
            namespace_group_pattern(fmt, pattern)
        except ValueError as exc:
            raise p.fail(f"{where}.pattern", str(exc), 'write e.g. pattern = "@acme/*" (npm), '
                         '"com.acme~" (Maven) or "acme-~" (PyPI)') from None
        out.append(Namespace(format=fmt, pattern=pattern,
                             description=str(n.get("description", "")),
                             contact_info=str(n.get("contact_info", ""))))
    return tuple(out)


def prices(p: Any, value: Any) -> Prices:
    """`[options.prices]`."""
    if value is None:
        return Prices()
    if not isinstance(value, dict):
        raise p.fail("options.prices", "must be a table", "[options.prices] with "
                     "storage_gb_month = 0.05 and requests_per_10k = 0.05")
    p.known(value, "options.prices.", _PRICE_KEYS)
    d = Prices()
    got = {}
    for key in _PRICE_KEYS:
        v = value.get(key, getattr(d, key))
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise p.fail(f"options.prices.{key}", f"must be a price in USD (0 or more), got "
                         f"{v!r}", f"{key} = {getattr(d, key)}")
        got[key] = float(v)
    return Prices(**got)
