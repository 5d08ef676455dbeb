"""Domains, repositories, tokens, endpoints, policies and tags."""

from __future__ import annotations

from .auth import mint_token
from .control import Ctx, operation, page
from .errors import Conflict, NotFound, QuotaExceeded, Validation
from .store import Domain, Repository

EXTERNAL_CONNECTIONS = {
    "public:npmjs": "npm",
    "public:pypi": "pypi",
    "public:nuget-org": "nuget",
    "public:maven-central": "maven",
    "public:maven-googleandroid": "maven",
    "public:maven-gradleplugins": "maven",
    "public:maven-commonsware": "maven",
    "public:maven-clojars": "maven",
    "public:ruby-gems-org": "ruby",
    "public:crates-io": "cargo",
}
MAX_DOMAINS, MAX_REPOSITORIES, MAX_UPSTREAMS = 10, 1000, 10


def domain_desc(ctx: Ctx, d: Domain) -> dict:
    size = sum(
        a.size
        for r in d.repositories.values()
        for p in r.packages.values()
        for v in p.versions.values()
        for a in v.assets.values()
    )
    return {
        "name": d.name, "owner": d.owner, "arn": ctx.store.arn(f"domain/{d.name}"),
        "status": "Active", "createdTime": d.created,
        "encryptionKey": d.encryption_key
        or ctx.store.arn(f"key/{d.name}").replace("codeartifact", "kms"),
        "repositoryCount": len(d.repositories), "assetSizeBytes": size,
        "s3BucketArn": f"arn:aws:s3:::assets-{d.owner}-{ctx.store.region}",
    }


def repo_summary(ctx: Ctx, r: Repository) -> dict:
    return {
        "name": r.name, "administratorAccount": ctx.store.account, "domainName": r.domain,
        "domainOwner": ctx.store.account, "arn": ctx.store.arn(f"repository/{r.domain}/{r.name}"),
        "description": r.description, "createdTime": r.created,
    }


def repo_desc(ctx: Ctx, r: Repository) -> dict:
    conns = []
    if r.external_connection:
        conns.append({
            "externalConnectionName": r.external_connection,
            "packageFormat": EXTERNAL_CONNECTIONS[r.external_connection],
            "status": "Available",
        })
    return {**repo_summary(ctx, r),
            "upstreams": [{"repositoryName": u} for u in r.upstreams],
            "externalConnections": conns}


@operation("CreateDomain")
def create_domain(ctx: Ctx, p: dict) -> dict:
    store = ctx.store
    with store.lock:
        if p["domain"] in store.domains:
            raise Conflict(f"Domain {p['domain']} already exists", resourceId=p["domain"],
                           resourceType="domain")
        if len(store.domains) >= MAX_DOMAINS:
            raise QuotaExceeded("Domains per account quota exceeded", resourceType="domain")
        d = store.domains[p["domain"]] = Domain(p["domain"], store.account, store.clock(),
                                                encryption_key=p.get("encryptionKey"))
        d.tags = {t["key"]: t["value"] for t in p.get("tags", [])}
        from .groups import ensure_root_group

        ensure_root_group(store, d)
    return {"domain": domain_desc(ctx, d)}


@operation("DescribeDomain")
def describe_domain(ctx: Ctx, p: dict) -> dict:
    return {"domain": domain_desc(ctx, ctx.store.domain(p["domain"], p.get("domainOwner")))}


@operation("DeleteDomain")
def delete_domain(ctx: Ctx, p: dict) -> dict:
    d = ctx.store.domain(p["domain"], p.get("domainOwner"))
    if d.repositories:
        raise Conflict("Domain still contains repositories", resourceId=d.name,
                       resourceType="domain")
    desc = domain_desc(ctx, d)
    del ctx.store.domains[d.name]
    return {"domain": {**desc, "status": "Deleted"}}


@operation("ListDomains")
def list_domains(ctx: Ctx, p: dict) -> dict:
    items = sorted(ctx.store.domains.values(), key=lambda d: d.name)
    chunk, nxt = page(items, p.get("maxResults"), p.get("nextToken"))
    keys = ("name", "owner", "arn", "status", "createdTime", "encryptionKey")
    out = [{k: domain_desc(ctx, d)[k] for k in keys} for d in chunk]
    return {"domains": out, "nextToken": nxt} if nxt else {"domains": out}


def _check_upstreams(ctx: Ctx, d: Domain, name: str, upstreams: list[dict]) -> list[str]:
    names = [u["repositoryName"] for u in upstreams]
    if len(names) > MAX_UPSTREAMS:
        raise QuotaExceeded("A repository can have at most 10 upstream repositories",
                            resourceId=name, resourceType="repository")
    if len(set(names)) != len(names):
        raise Validation("Duplicate upstream repository")
    for u in names:
        if u == name:
            raise Validation("A repository cannot be its own upstream")
        if u not in d.repositories:
            raise NotFound(f"Upstream repository {u} not found", resourceId=u,
                           resourceType="repository")
    if d.repositories.get(name) and d.repositories[name].external_connection and names \
            and not ctx.store.behaviour.repo_upstreams_with_external:
        raise Validation("A repository with an external connection cannot have upstreams")
    return names


@operation("CreateRepository")
def create_repository(ctx: Ctx, p: dict) -> dict:
    d = ctx.store.domain(p["domain"], p.get("domainOwner"))
    with ctx.store.lock:
        if p["repository"] in d.repositories:
            raise Conflict(f"Repository {p['repository']} already exists",
                           resourceId=p["repository"], resourceType="repository")
        if len(d.repositories) >= MAX_REPOSITORIES:
            raise QuotaExceeded("Repositories per domain quota exceeded",
                                resourceType="repository")
        ups = _check_upstreams(ctx, d, p["repository"], p.get("upstreams", []))
        r = Repository(p["repository"], d.name, p.get("description", ""), ups,
                       created=ctx.store.clock())
        r.tags = {t["key"]: t["value"] for t in p.get("tags", [])}
        d.repositories[r.name] = r
    return {"repository": repo_desc(ctx, r)}


@operation("DescribeRepository")
def describe_repository(ctx: Ctx, p: dict) -> dict:
    r = ctx.store.repository(p["domain"], p["repository"], p.get("domainOwner"))
    return {"repository": repo_desc(ctx, r)}


@operation("UpdateRepository")
def update_repository(ctx: Ctx, p: dict) -> dict:
    d = ctx.store.domain(p["domain"], p.get("domainOwner"))
    r = ctx.store.repository(p["domain"], p["repository"])
    if "upstreams" in p:
        # The new list replaces the old one; its order is the search order (§8).
        r.upstreams = _check_upstreams(ctx, d, r.name, p["upstreams"])
    if "description" in p:
        r.description = p["description"]
    return {"repository": repo_desc(ctx, r)}


@operation("DeleteRepository")
def delete_repository(ctx: Ctx, p: dict) -> dict:
    d = ctx.store.domain(p["domain"], p.get("domainOwner"))
    r = ctx.store.repository(p["domain"], p["repository"])
    for other in d.repositories.values():
        if r.name in other.upstreams:
            raise Conflict(f"Repository {r.name} is an upstream of {other.name}",
                           resourceId=r.name, resourceType="repository")
    desc = repo_desc(ctx, r)
    del d.repositories[r.name]
    return {"repository": desc}


def _list_repos(ctx: Ctx, repos: list[Repository], p: dict) -> dict:
    prefix = p.get("repositoryPrefix", "")
    items = sorted((r for r in repos if r.name.startswith(prefix)),
                   key=lambda r: (r.domain, r.name))
    chunk, nxt = page(items, p.get("maxResults"), p.get("nextToken"))
    out = {"repositories": [repo_summary(ctx, r) for r in chunk]}
    return {**out, "nextToken": nxt} if nxt else out


@operation("ListRepositories")
def list_repositories(ctx: Ctx, p: dict) -> dict:
    repos = [r for d in ctx.store.domains.values() for r in d.repositories.values()]
    return _list_repos(ctx, repos, p)


@operation("ListRepositoriesInDomain")
def list_repositories_in_domain(ctx: Ctx, p: dict) -> dict:
    d = ctx.store.domain(p["domain"], p.get("domainOwner"))
    return _list_repos(ctx, list(d.repositories.values()), p)


@operation("AssociateExternalConnection")
def associate_external_connection(ctx: Ctx, p: dict) -> dict:
    r = ctx.store.repository(p["domain"], p["repository"], p.get("domainOwner"))
    name = p["externalConnection"]
    if name not in EXTERNAL_CONNECTIONS:
        raise Validation(f"Unknown external connection {name}")
    if r.external_connection:
        # One external connection per repository (§8).
        raise QuotaExceeded("A repository can have only one external connection",
                            resourceId=r.name, resourceType="repository")
    if r.upstreams and not ctx.store.behaviour.repo_upstreams_with_external:
        raise Validation("A repository with upstreams cannot have an external connection")
    r.external_connection = name
    return {"repository": repo_desc(ctx, r)}


@operation("DisassociateExternalConnection")
def disassociate_external_connection(ctx: Ctx, p: dict) -> dict:
    r = ctx.store.repository(p["domain"], p["repository"], p.get("domainOwner"))
    if r.external_connection != p["externalConnection"]:
        raise NotFound(f"External connection {p['externalConnection']} not found",
                       resourceId=p["externalConnection"], resourceType="repository")
    r.external_connection = None
    return {"repository": repo_desc(ctx, r)}


@operation("GetAuthorizationToken")
def get_authorization_token(ctx: Ctx, p: dict) -> dict:
    ctx.store.domain(p["domain"], p.get("domainOwner"))
    token, expiry = mint_token(ctx.store, p.get("durationSeconds"))
    return {"authorizationToken": token, "expiration": expiry}


@operation("GetRepositoryEndpoint")
def get_repository_endpoint(ctx: Ctx, p: dict) -> dict:
    d = ctx.store.domain(p["domain"], p.get("domainOwner"))
    r = ctx.store.repository(p["domain"], p["repository"])
    # The path-style shape of a VPC endpoint without private DNS (§1.2): no wildcard DNS needed.
    url = f"{ctx.base_url.rstrip('/')}/{p['format']}/d/{d.name}-{d.owner}/{r.name}/"
    return {"repositoryEndpoint": url}


def _policy_store(ctx: Ctx, p: dict) -> tuple[dict, str]:
    d = ctx.store.domain(p["domain"], p.get("domainOwner"))
    if "repository" in p:
        r = ctx.store.repository(d.name, p["repository"])
        return r.tags, ctx.store.arn(f"repository/{d.name}/{r.name}")
    return d.tags, ctx.store.arn(f"domain/{d.name}")


def _policy_op(kind: str):
    def put(ctx: Ctx, p: dict) -> dict:
        holder, arn = _policy_store(ctx, p)
        holder["__policy__"] = p["policyDocument"]
        return {"policy": {"resourceArn": arn, "revision": "1", "document": p["policyDocument"]}}

    def get(ctx: Ctx, p: dict) -> dict:
        holder, arn = _policy_store(ctx, p)
        if "__policy__" not in holder:
            raise NotFound("No policy", resourceId=arn, resourceType=kind)
        return {"policy": {"resourceArn": arn, "revision": "1", "document": holder["__policy__"]}}

    def delete(ctx: Ctx, p: dict) -> dict:
        out = get(ctx, p)
        _policy_store(ctx, p)[0].pop("__policy__")
        return out

    return put, get, delete


for _kind in ("Domain", "Repository"):
    _put, _get, _del = _policy_op(_kind.lower())
    operation(f"Put{_kind}PermissionsPolicy")(_put)
    operation(f"Get{_kind}PermissionsPolicy")(_get)
    operation(f"Delete{_kind}PermissionsPolicy")(_del)


def _tag_holder(ctx: Ctx, arn: str) -> dict:
    resource = arn.split(":", 5)[-1]
    kind, _, rest = resource.partition("/")
    parts = rest.split("/")
    if kind == "domain":
        return ctx.store.domain(parts[0]).tags
    if kind == "repository" and len(parts) == 2:
        return ctx.store.repository(parts[0], parts[1]).tags
    raise NotFound(f"Resource {arn} not found", resourceId=arn)


@operation("TagResource")
def tag_resource(ctx: Ctx, p: dict) -> dict:
    _tag_holder(ctx, p["resourceArn"]).update({t["key"]: t["value"] for t in p["tags"]})
    return {}


@operation("UntagResource")
def untag_resource(ctx: Ctx, p: dict) -> dict:
    holder = _tag_holder(ctx, p["resourceArn"])
    for key in p["tagKeys"]:
        holder.pop(key, None)
    return {}


@operation("ListTagsForResource")
def list_tags(ctx: Ctx, p: dict) -> dict:
    holder = _tag_holder(ctx, p["resourceArn"])
    return {"tags": [{"key": k, "value": v} for k, v in holder.items() if k != "__policy__"]}
