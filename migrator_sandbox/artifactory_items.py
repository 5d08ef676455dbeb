"""Artifactory's view of a seed (items with properties) and the AQL subset crawlers need.

Repository keys: a hosted seed repository is a LOCAL key, a proxy one a REMOTE key whose cached
files live under the key `<name>-cache`, a group a VIRTUAL key. Items are the seed's files with
these product rules (reference §2.6-§2.8):

- stored Maven checksum sidecars are not items: Artifactory keeps them as the file's
  `original_*` checksums and answers `.sha1/.md5/.sha256` virtually;
- folders are items too (`type: folder`), `path` is `.` for files at the repository root;
- npm tarballs get `npm.name`/`npm.version`, PyPI dists `pypi.name`/`pypi.normalized.name`/
  `pypi.version`, plus the extra properties from repos.toml.

AQL: `items.find(<criteria>)[.include(...)][.sort({...})][.offset(N)][.limit(N)][.distinct(b)]`
with `$eq $ne $gt $gte $lt $lte $match $nmatch $and $or`, `"@prop"` and `stat.downloaded`
criteria (from the seed's `downloaded`); default
`type=file`; sort/offset/limit are ignored when the include list holds property fields; `range`
as in 6.20 (`total` = rows in this response). Keyset criteria on (path, name) with a path, name
sort use an index; `run_aql` reports each query's cost in rows read (offset: skipped + page).
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from migrator_sandbox import derive
from migrator_sandbox.seed import Repository, Seed, SeedFile
from migrator_sandbox.seed_runtime import HOSTILE_PATHS, Knobs

CACHE_SUFFIX = "-cache"
DEFAULT_FIELDS = ("repo", "path", "name", "type", "size", "created", "created_by", "modified",
                  "modified_by", "updated")
ITEM_FIELDS = (*DEFAULT_FIELDS, "depth", "actual_md5", "actual_sha1", "original_md5",
               "original_sha1", "sha256", "virtual_repos")
DATE_FIELDS = ("created", "modified", "updated")


@dataclass(slots=True)
class Item:
    repo: str  # the storing key (LOCAL key or <remote>-cache)
    path: str  # folder path, "." at the root
    name: str
    type: str  # file | folder
    size: int
    mtime: float
    actual: dict[str, str]  # reported digests (after the corruption switch)
    original: dict[str, str]
    properties: list[tuple[str, str]] = field(default_factory=list)
    body: Callable[[], bytes] | None = None
    downloaded: str | None = None  # `stat.downloaded` (ISO-8601); None: never downloaded

    @property
    def full_path(self) -> str:
        return self.name if self.path == "." else f"{self.path}/{self.name}"

    def field(self, name: str) -> Any:
        ts = derive.iso_z(self.mtime)
        values = {
            "repo": self.repo, "path": self.path, "name": self.name, "type": self.type,
            "size": self.size, "created": ts, "modified": ts, "updated": ts,
            "created_by": "deployer", "modified_by": "deployer",
            "depth": self.full_path.count("/") + 1,
            "actual_md5": self.actual.get("md5"), "actual_sha1": self.actual.get("sha1"),
            "original_md5": self.original.get("md5"), "original_sha1": self.original.get("sha1"),
            "sha256": self.actual.get("sha256"), "virtual_repos": [],
        }
        return values[name]


def storage_key(repo: Repository) -> str:
    """The key that holds a repository's files: `<name>-cache` for a remote repository."""
    return repo.name + CACHE_SUFFIX if repo.type == "proxy" else repo.name


def resolve_key(seed: Seed, key: str) -> tuple[Repository, bool] | None:
    """(repository, is_cache_key) for a key, among repositories served by Artifactory."""
    for repo in seed.for_server("artifactory"):
        if repo.name == key:
            return repo, False
        if repo.type == "proxy" and key == repo.name + CACHE_SUFFIX:
            return repo, True
    return None


def derived_properties(repo: Repository, f: SeedFile) -> list[tuple[str, str]]:
    props: list[tuple[str, str]] = []
    if f.npm is not None:
        props += [("npm.name", f.npm["name"]), ("npm.version", f.npm["version"])]
    if f.pypi is not None:
        props += [("pypi.name", f.pypi.name), ("pypi.normalized.name", f.pypi.normalized),
                  ("pypi.version", f.pypi.version)]
    props += sorted(repo.properties.get(f.path, {}).items())
    return props


def stored_path(repo: Repository, f: SeedFile, npm_scoped_layout: str) -> str:
    """Where Artifactory keeps a seed file. With `npm_scoped_layout="artifactory"`, a scoped
    tarball in a LOCAL npm repository sits where `npm publish` puts it there,
    `@scope/name/-/@scope/name-<ver>.tgz`; remote caches keep `@scope/name/-/name-<ver>.tgz`."""
    if (npm_scoped_layout == "artifactory" and repo.type == "hosted" and f.npm is not None
            and f.npm["name"].startswith("@")):
        folder, _, filename = f.path.rpartition("/")
        scope = f.npm["name"].split("/")[0]
        if folder.endswith("/-") and not folder.endswith(f"/-/{scope}"):
            return f"{folder}/{scope}/{filename}"
    return f.path


def _npm_metadata_files(repo: Repository) -> list[tuple[str, bytes, float]]:
    """Artifactory's hidden `.npm/<name>/package.json` metadata of a LOCAL npm repository (the
    exact tree is uncertain in the reference; crawlers must skip dot-folders either way)."""
    by_name: dict[str, list[SeedFile]] = {}
    for f in repo.files:
        if f.npm is not None:
            by_name.setdefault(f.npm["name"], []).append(f)
    out = []
    for name, files in sorted(by_name.items()):
        versions = [derive.NpmVersion(f.npm, "", f.digests["sha1"], f.digests["sha512"],
                                      f.mtime) for f in files if f.npm]
        doc = derive.npm_packument(name, versions, dist_tags=repo.dist_tags.get(name),
                                   deprecated=repo.deprecated.get(name))
        out.append((f".npm/{name}/package.json", json.dumps(doc, indent=2).encode(),
                    max(f.mtime for f in files)))
    return out


def repo_items(
    repo: Repository, knobs: Knobs, *, folders: bool = True, npm_scoped_layout: str = "seed",
    npm_metadata_folder: bool = False,
) -> list[Item]:
    """Items stored in a (non-virtual) repository, files and folders, sorted by path."""
    key = storage_key(repo)
    sidecars: dict[str, dict[str, str]] = {}
    for f in repo.files:
        if repo.format == "maven2" and f.kind == "sidecar":
            base, _, algo = f.path.rpartition(".")
            if algo in ("md5", "sha1", "sha256"):
                try:
                    sidecars.setdefault(base, {})[algo] = f.read_bytes().decode().split()[0]
                except (UnicodeDecodeError, IndexError, OSError):
                    continue
    items: list[Item] = []
    folder_times: dict[str, float] = {}
    for f in repo.files:
        if repo.format == "maven2" and f.kind == "sidecar":
            continue
        where = stored_path(repo, f, npm_scoped_layout)
        folder, _, name = where.rpartition("/")
        actual = knobs.reported(repo.name, f.path, f.digests)
        original = {**actual, **sidecars.get(f.path, {})}
        items.append(Item(key, folder or ".", name, "file", f.size, f.mtime, actual, original,
                          derived_properties(repo, f), f.read_bytes,
                          repo.downloaded.get(f.path)))
        parts = where.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            folder_times[p] = max(folder_times.get(p, 0.0), f.mtime)
    if npm_metadata_folder and repo.format == "npm" and repo.type == "hosted":
        for path, body, mtime in _npm_metadata_files(repo):
            folder, _, name = path.rpartition("/")
            d = derive.digests(body)
            items.append(Item(key, folder, name, "file", len(body), mtime, d, d, [],
                              lambda body=body: body))
            parts = folder.split("/")
            for i in range(1, len(parts) + 1):
                p = "/".join(parts[:i])
                folder_times[p] = max(folder_times.get(p, 0.0), mtime)
    if knobs.hostile_paths and repo.type == "hosted":
        for p in HOSTILE_PATHS:
            folder, _, name = p.rpartition("/")
            body = b"hostile listing entry\n"
            d = derive.digests(body)
            items.append(Item(key, folder or ".", name, "file", len(body), 0.0, d, d, [],
                              lambda body=body: body))
    if folders:
        for p, t in folder_times.items():
            parent, _, name = p.rpartition("/")
            items.append(Item(key, parent or ".", name, "folder", 0, t, {}, {}))
    items.sort(key=lambda i: (i.path, i.name))
    return items


# ---- AQL ----------------------------------------------------------------------------------------


class AqlError(ValueError):
    """A query the emulator (or Artifactory) rejects with 400."""


@dataclass(slots=True)
class AqlQuery:
    criteria: dict[str, Any]
    include: list[str] | None = None
    sort: tuple[str, list[str]] | None = None
    offset: int = 0
    limit: int | None = None


def _split_calls(text: str) -> list[tuple[str, str]]:
    """`items.find({...}).include("a","b").limit(3)` → [("items.find", "{...}"), ...]."""
    calls: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n.":
            i += 1
        if i >= n:
            break
        start = i
        while i < n and (text[i].isalnum() or text[i] in "_."):
            i += 1
        name = text[start:i].strip(".")
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n or text[i] != "(" or not name:
            raise AqlError(f"Failed to parse query: {text[start:start + 40]!r}")
        depth, j, quote = 0, i, None
        while j < n:
            ch = text[j]
            if quote:
                if ch == "\\":
                    j += 1
                elif ch == quote:
                    quote = None
            elif ch in "\"'":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if depth != 0:
            raise AqlError("Failed to parse query: unbalanced parentheses")
        calls.append((name, text[i + 1 : j].strip()))
        i = j + 1
    return calls


def parse_aql(text: str) -> AqlQuery:
    calls = _split_calls(text)
    if not calls or calls[0][0] != "items.find":
        raise AqlError("only items.find(...) queries are supported by this emulator")
    try:
        criteria = json.loads(calls[0][1] or "{}")
    except json.JSONDecodeError as exc:
        raise AqlError(f"Failed to parse query: {exc}") from exc
    if not isinstance(criteria, dict):
        raise AqlError("Failed to parse query: criteria must be an object")
    q = AqlQuery(criteria)
    for name, arg in calls[1:]:
        try:
            if name == "include":
                q.include = [str(x) for x in json.loads(f"[{arg}]")]
            elif name == "sort":
                spec = json.loads(arg)
                (direction, fields), = spec.items()
                if direction not in ("$asc", "$desc"):
                    raise AqlError(f"unknown sort direction {direction}")
                q.sort = (direction, [fields] if isinstance(fields, str) else list(fields))
            elif name == "offset":
                q.offset = int(arg)
            elif name == "limit":
                q.limit = int(arg)
            elif name == "distinct":
                pass  # every emulated row is distinct already
            else:
                raise AqlError(f"unsupported AQL call .{name}()")
        except (json.JSONDecodeError, ValueError) as exc:
            raise AqlError(f"Failed to parse query: {exc}") from exc
    return q


def _mentions_type(criteria: Any) -> bool:
    if isinstance(criteria, dict):
        return any(k == "type" or _mentions_type(v) for k, v in criteria.items())
    if isinstance(criteria, list):
        return any(_mentions_type(c) for c in criteria)
    return False


def _as_date(value: Any) -> datetime:
    text = str(value).replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _compare(op: str, actual: Any, expected: Any, is_date: bool) -> bool:
    if op in ("$match", "$nmatch"):
        hit = actual is not None and fnmatchcase(str(actual), str(expected))
        return hit if op == "$match" else not hit
    if actual is None:
        return op == "$ne"
    if is_date:
        actual, expected = _as_date(actual), _as_date(expected)
    elif isinstance(actual, int) and not isinstance(expected, int):
        expected = int(expected)
    ops = {"$eq": lambda a, b: a == b, "$ne": lambda a, b: a != b, "$gt": lambda a, b: a > b,
           "$gte": lambda a, b: a >= b, "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b}
    if op not in ops:
        raise AqlError(f"unsupported operator {op}")
    return ops[op](actual, expected)


def _value_matches(cond: Any, actual: Any, is_date: bool) -> bool:
    if isinstance(cond, dict):
        return all(_compare(op, actual, v, is_date) for op, v in cond.items())
    return _compare("$eq", actual, cond, is_date)


def matches(item: Item, criteria: Any) -> bool:
    if isinstance(criteria, list):
        return all(matches(item, c) for c in criteria)
    for key, cond in criteria.items():
        if key == "$and":
            if not all(matches(item, c) for c in (cond if isinstance(cond, list) else [cond])):
                return False
        elif key == "$or":
            parts = cond if isinstance(cond, list) else [{k: v} for k, v in cond.items()]
            if not any(matches(item, c) for c in parts):
                return False
        elif key.startswith("@"):
            prop = key[1:]
            values = [v for k, v in item.properties if k == prop]
            if not any(_value_matches(cond, v, False) for v in values):
                return False
        elif key == "type" and cond == "any":
            continue
        elif key == "stat.downloaded":  # the stat sub-domain: a join, paging unaffected
            if not _value_matches(cond, item.downloaded, True):
                return False
        elif key in ITEM_FIELDS:
            if not _value_matches(cond, item.field(key), key in DATE_FIELDS):
                return False
        else:
            raise AqlError(f"Unknown field {key}")
    return True


def keyset_bound(criteria: Any) -> tuple[str, str] | None:
    """The (P, N) of keyset criteria `{"$or":[{"path":{"$gt":P}},{"$and":[{"path":P},
    {"name":{"$gt":N}}]}]}`, at the top level or inside a top-level `$and`; else None."""
    candidates = [criteria.get("$or"), *[c.get("$or") for c in _and_list(criteria.get("$and"))
                                         if isinstance(c, dict)]]
    for parts in candidates:
        try:
            (gt,), (same,) = [p for p in parts if "$and" not in p], \
                [p for p in parts if "$and" in p]
            (path_eq, name_gt), = [same["$and"]]
            after = (gt["path"]["$gt"], name_gt["name"]["$gt"])
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
        if len(parts) == 2 and path_eq == {"path": after[0]} and len(gt) == 1 \
                and all(isinstance(v, str) for v in after):
            return after
    return None


def run_aql(
    q: AqlQuery, items: list[Item], *, include_replaces: bool, hard_limit: int | None,
    visible: Callable[[Item], bool], stats: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Evaluate `q` over `items`; permission filtering (`visible`) runs after the limit, as
    Artifactory does, so a restricted user may get fewer rows than `limit`.

    `stats["rows_read"]` tells what the query cost the database, in rows it had to read
    (Artifactory runs AQL as SQL over an index on path and name): `.offset(N)` sorts and
    skips N rows before the page (OFFSET), so it reads N + the page; keyset criteria sorted on
    path, name seek the index (a bisect here) and read the page only; a query that cannot page
    (property includes) reads every match.
    """
    criteria = q.criteria
    if not _mentions_type(criteria):
        criteria = {**criteria, "$and": [*_and_list(criteria.get("$and")), {"type": "file"}]}
    include = q.include or []
    item_incl = [f for f in include if f in ITEM_FIELDS or f == "*"]
    prop_incl = [f for f in include if f.startswith(("property.", "@"))]
    unknown = [f for f in include if f not in item_incl and f not in prop_incl]
    if unknown:
        raise AqlError(f"Unknown field {unknown[0]}")
    paging = not prop_incl  # sort/offset/limit only work with item-domain includes
    after = keyset_bound(criteria) if paging and q.sort == ("$asc", ["path", "name"]) else None
    if after is not None:
        # The index: items in (path, name) order, entered by bisection after the bound; the
        # criteria are still applied to every row read, so the answer is the same as a scan.
        ordered = sorted(items, key=lambda i: (i.path, i.name))
        start = bisect_right(ordered, after, key=lambda i: (i.path, i.name))
        rows = []
        for i in ordered[start:]:
            if q.limit is not None and len(rows) >= q.offset + q.limit:
                break
            if matches(i, criteria):
                rows.append(i)
    else:
        rows = [i for i in items if matches(i, criteria)]
    if paging and q.sort:
        direction, fields = q.sort
        rows.sort(key=lambda i: tuple(_sort_val(i.field(f)) for f in fields),
                  reverse=direction == "$desc")
    matched = len(rows)
    if paging:
        rows = rows[q.offset :]
        if q.limit is not None:
            rows = rows[: q.limit]
    if stats is not None:
        stats["rows_read"] = (q.offset + len(rows)) if paging else matched
    notification = None
    if hard_limit is not None and len(rows) > hard_limit:
        rows = rows[:hard_limit]
        notification = "AQL query reached the search hard limit, results are trimmed."
    rows = [r for r in rows if visible(r)]
    if "*" in item_incl:
        fields = list(ITEM_FIELDS)
    elif item_incl and include_replaces:
        fields = item_incl
    else:
        fields = list(DEFAULT_FIELDS) + [f for f in item_incl if f not in DEFAULT_FIELDS]
    out = []
    for r in rows:
        row = {f: r.field(f) for f in fields}
        if prop_incl:
            wanted = {p[1:] for p in prop_incl if p.startswith("@")}
            row["properties"] = [{"key": k, "value": v} for k, v in r.properties
                                 if not wanted or k in wanted]
        out.append(row)
    rng: dict[str, Any] = {"start_pos": q.offset if paging else 0, "end_pos": len(out),
                           "total": len(out)}
    if q.limit is not None and paging:
        rng["limit"] = q.limit
    result: dict[str, Any] = {"results": out, "range": rng}
    if notification:
        result["notification"] = notification
    return result


def _and_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _sort_val(v: Any) -> Any:
    return (0, "") if v is None else (1, v)
