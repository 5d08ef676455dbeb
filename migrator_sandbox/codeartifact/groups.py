"""Package groups (reference §7.3): pattern matching, inheritance and the ten operations.

Pattern = `/<format>/<namespace>/<name>` with a suffix: `$` exact, `~` prefix, `*` every
value of the next component; `/*` is the domain's root group (allows everything, cannot be
deleted). A package belongs to its most specific matching group; `INHERIT` takes the mode of
the nearest ancestor that is not INHERIT.
"""

from __future__ import annotations

from urllib.parse import quote

from .control import Ctx, operation, page
from .errors import Conflict, NotFound, Validation
from .store import Domain, PackageGroup, Store, normalize_name

KINDS = ("PUBLISH", "EXTERNAL_UPSTREAM", "INTERNAL_UPSTREAM")
ROOT = "/*"


def parse_pattern(pattern: str) -> tuple[list[str], str, str]:
    """→ (fixed components, kind of the last one: exact|prefix|all, prefix text)."""
    if not pattern.startswith("/"):
        raise Validation(f"Invalid package group pattern {pattern}")
    parts = pattern[1:].split("/")
    last = parts[-1]
    if last == "*":
        fixed, kind, text = parts[:-1], "all", ""
    elif last.endswith("$"):
        fixed, kind, text = [*parts[:-1], last[:-1]], "exact", ""
    elif last.endswith("~"):
        fixed, kind, text = parts[:-1], "prefix", last[:-1]
    else:
        raise Validation(f"Package group pattern {pattern} must end in $, ~ or *")
    if len(fixed) > 3 or (kind == "exact" and len(fixed) != 3) or len(parts) > 3:
        raise Validation(f"Invalid package group pattern {pattern}")
    if kind == "prefix" and len(fixed) == 0:
        raise Validation(f"Invalid package group pattern {pattern}")
    return fixed, kind, text


def specificity(pattern: str) -> tuple[int, int, int]:
    fixed, kind, text = parse_pattern(pattern)
    return (len(fixed), 1 if kind == "prefix" else 0, len(text))


def matches(pattern: str, fmt: str, ns: str, name: str) -> bool:
    fixed, kind, text = parse_pattern(pattern)
    coords = [fmt, ns, normalize_name(fmt, name)]
    if fixed != coords[: len(fixed)]:
        return False
    if kind == "prefix":
        return coords[len(fixed)].startswith(text)
    return True


def ensure_root_group(store: Store, domain: Domain) -> None:
    if ROOT not in domain.groups:
        domain.groups[ROOT] = PackageGroup(
            ROOT, store.clock(), restrictions={k: "ALLOW" for k in KINDS}
        )


def group_for(domain: Domain, fmt: str, ns: str, name: str) -> PackageGroup:
    candidates = [g for g in domain.groups.values() if matches(g.pattern, fmt, ns, name)]
    return max(candidates, key=lambda g: specificity(g.pattern))


def parent_of(domain: Domain, group: PackageGroup) -> PackageGroup | None:
    if group.pattern == ROOT:
        return None
    fixed, _kind, text = parse_pattern(group.pattern)
    sample = [*fixed, text or "", "", ""][:3]
    mine = specificity(group.pattern)
    others = [
        g for g in domain.groups.values()
        if g is not group and specificity(g.pattern) < mine and matches(g.pattern, *sample)
    ]
    return max(others, key=lambda g: specificity(g.pattern)) if others else None


def effective(domain: Domain, group: PackageGroup, kind: str) -> tuple[str, PackageGroup]:
    current: PackageGroup | None = group
    while current is not None:
        mode = current.restrictions.get(kind, "INHERIT")
        if mode != "INHERIT":
            return mode, current
        current = parent_of(domain, current)
    return "ALLOW", domain.groups[ROOT]


def publish_mode(domain: Domain, repo: str, fmt: str, ns: str, name: str) -> tuple[str, str]:
    """("ALLOW", pattern) when the package's group lets it be published to `repo`, else the
    effective PUBLISH mode that refuses it and the pattern of the group that sets it."""
    group = group_for(domain, fmt, ns, name)
    mode, holder = effective(domain, group, "PUBLISH")
    if mode == "ALLOW_SPECIFIC_REPOSITORIES" and repo in holder.allowed.get("PUBLISH", []):
        mode = "ALLOW"
    return mode, holder.pattern


def allows(store: Store, domain: Domain, kind: str, repo: str, fmt: str, ns: str,
           name: str) -> bool:
    mode, holder = effective(domain, group_for(domain, fmt, ns, name), kind)
    if mode == "ALLOW_SPECIFIC_REPOSITORIES":
        return repo in holder.allowed.get(kind, [])
    return mode == "ALLOW"


def _ref(store: Store, domain: Domain, g: PackageGroup | None) -> dict | None:
    if g is None:
        return None
    return {"arn": store.arn(f"package-group/{domain.name}{quote(g.pattern, safe='/')}"),
            "pattern": g.pattern}


def describe(store: Store, domain: Domain, g: PackageGroup) -> dict:
    restrictions = {}
    for kind in KINDS:
        mode, holder = effective(domain, g, kind)
        entry = {"mode": g.restrictions.get(kind, "INHERIT"), "effectiveMode": mode,
                 "repositoriesCount": len(holder.allowed.get(kind, []))}
        if holder is not g:
            entry["inheritedFrom"] = _ref(store, domain, holder)
        restrictions[kind] = entry
    out = {
        **_ref(store, domain, g), "domainName": domain.name, "domainOwner": domain.owner,
        "createdTime": g.created, "contactInfo": g.contact_info, "description": g.description,
        "originConfiguration": {"restrictions": restrictions},
    }
    parent = parent_of(domain, g)
    if parent:
        out["parent"] = _ref(store, domain, parent)
    return out


def _group(ctx: Ctx, p: dict) -> tuple[Domain, PackageGroup]:
    d = ctx.store.domain(p["domain"], p.get("domainOwner"))
    ensure_root_group(ctx.store, d)
    g = d.groups.get(p["packageGroup"])
    if g is None:
        raise NotFound(f"Package group {p['packageGroup']} not found",
                       resourceId=p["packageGroup"], resourceType="package-group")
    return d, g


@operation("CreatePackageGroup")
def create_group(ctx: Ctx, p: dict) -> dict:
    d = ctx.store.domain(p["domain"], p.get("domainOwner"))
    ensure_root_group(ctx.store, d)
    pattern = p["packageGroup"]
    parse_pattern(pattern)
    if pattern in d.groups:
        raise Conflict(f"Package group {pattern} already exists", resourceId=pattern,
                       resourceType="package-group")
    g = d.groups[pattern] = PackageGroup(pattern, ctx.store.clock(), p.get("contactInfo", ""),
                                         p.get("description", ""))
    return {"packageGroup": describe(ctx.store, d, g)}


@operation("DescribePackageGroup")
def describe_group(ctx: Ctx, p: dict) -> dict:
    d, g = _group(ctx, p)
    return {"packageGroup": describe(ctx.store, d, g)}


@operation("UpdatePackageGroup")
def update_group(ctx: Ctx, p: dict) -> dict:
    d, g = _group(ctx, p)
    if "contactInfo" in p:
        g.contact_info = p["contactInfo"]
    if "description" in p:
        g.description = p["description"]
    return {"packageGroup": describe(ctx.store, d, g)}


@operation("DeletePackageGroup")
def delete_group(ctx: Ctx, p: dict) -> dict:
    d, g = _group(ctx, p)
    if g.pattern == ROOT:
        raise Validation("The root package group cannot be deleted")
    out = describe(ctx.store, d, g)
    del d.groups[g.pattern]
    return {"packageGroup": out}


@operation("ListPackageGroups")
def list_groups(ctx: Ctx, p: dict) -> dict:
    d = ctx.store.domain(p["domain"], p.get("domainOwner"))
    ensure_root_group(ctx.store, d)
    items = sorted((g for g in d.groups.values() if g.pattern.startswith(p.get("prefix", ""))),
                   key=lambda g: g.pattern)
    chunk, nxt = page(items, p.get("maxResults"), p.get("nextToken"))
    out = {"packageGroups": [describe(ctx.store, d, g) for g in chunk]}
    return {**out, "nextToken": nxt} if nxt else out


@operation("ListSubPackageGroups")
def list_sub_groups(ctx: Ctx, p: dict) -> dict:
    d, g = _group(ctx, p)
    items = sorted((c for c in d.groups.values() if parent_of(d, c) is g),
                   key=lambda c: c.pattern)
    chunk, nxt = page(items, p.get("maxResults"), p.get("nextToken"))
    out = {"packageGroups": [describe(ctx.store, d, c) for c in chunk]}
    return {**out, "nextToken": nxt} if nxt else out


@operation("UpdatePackageGroupOriginConfiguration")
def update_group_origin(ctx: Ctx, p: dict) -> dict:
    d, g = _group(ctx, p)
    g.restrictions.update(p.get("restrictions", {}))
    updates: dict = {}
    for field_name, verb in (("addAllowedRepositories", "ADDED"),
                             ("removeAllowedRepositories", "REMOVED")):
        for item in p.get(field_name, []):
            kind, repo = item["originRestrictionType"], item["repositoryName"]
            allowed = g.allowed.setdefault(kind, [])
            if verb == "ADDED" and repo not in allowed:
                allowed.append(repo)
            elif verb == "REMOVED" and repo in allowed:
                allowed.remove(repo)
            updates.setdefault(kind, {}).setdefault(verb, []).append(repo)
    return {"packageGroup": describe(ctx.store, d, g), "allowedRepositoryUpdates": updates}


@operation("ListAllowedRepositoriesForGroup")
def list_allowed(ctx: Ctx, p: dict) -> dict:
    _d, g = _group(ctx, p)
    items = g.allowed.get(p["originRestrictionType"], [])
    chunk, nxt = page(items, p.get("maxResults"), p.get("nextToken"))
    return {"allowedRepositories": chunk, **({"nextToken": nxt} if nxt else {})}


@operation("GetAssociatedPackageGroup")
def get_associated(ctx: Ctx, p: dict) -> dict:
    # Works for packages that do not exist yet (§7.3).
    d = ctx.store.domain(p["domain"], p.get("domainOwner"))
    ensure_root_group(ctx.store, d)
    g = group_for(d, p["format"], p.get("namespace", ""), p["package"])
    return {"packageGroup": describe(ctx.store, d, g), "associationType": "STRONG"}


@operation("ListAssociatedPackages")
def list_associated(ctx: Ctx, p: dict) -> dict:
    d, g = _group(ctx, p)
    seen: dict[tuple, dict] = {}
    for r in d.repositories.values():
        for (fmt, ns, name) in r.packages:
            if group_for(d, fmt, ns, name) is g:
                seen[(fmt, ns, name)] = {"format": fmt, "package": name,
                                         "associationType": "STRONG",
                                         **({"namespace": ns} if ns else {})}
    chunk, nxt = page([seen[k] for k in sorted(seen)], p.get("maxResults"), p.get("nextToken"))
    return {"packages": chunk, **({"nextToken": nxt} if nxt else {})}
