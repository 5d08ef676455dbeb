"""Artifactory AQL queries and keyset cursors (reference §2.6).

A crawl pages AQL by keyset on (path, name): each page asks for the rows after the last one
read, `{"$or":[{"path":{"$gt":P}},{"$and":[{"path":P},{"name":{"$gt":N}}]}]}`, sorted on
path and name, so the database seeks its index instead of sorting and skipping `.offset(N)`
rows for every page. The cursor `aqlk:["P","N"]` is JSON (a path may hold any character but
NUL, and JSON keeps the state's text column printable); `aql:<offset>` cursors of earlier
versions are still read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from migrator.errors import SourceError, shorten

__all__ = ["AQL_FIELDS", "KEYSET_CURSOR", "PATH_FIELDS", "Position", "aql_query",
           "keyset_criteria", "last_position", "parse_cursor", "shorten_position"]

AQL_FIELDS = ("repo", "path", "name", "size", "modified", "actual_sha1", "actual_md5", "sha256",
              "created")
#: What a sync's listing of every path needs (deletions at the source): item fields only.
PATH_FIELDS = ("repo", "path", "name")
#: Where a keyset crawl stands: the (path, name) of the last row it has read.
Position = tuple[str, str]
KEYSET_CURSOR = "aqlk:"


def keyset_criteria(after: Position) -> dict[str, Any]:
    """The rows after `after` in `(path, name)` order, as AQL criteria."""
    path, name = after
    return {"$or": [{"path": {"$gt": path}},
                    {"$and": [{"path": path}, {"name": {"$gt": name}}]}]}


def aql_query(repo_key: str, *, offset: int = 0, limit: int,
              fields: Sequence[str] = AQL_FIELDS, criteria: Mapping[str, Any] | None = None,
              after: Position | None = None) -> str:
    """The paged AQL for one repository; the key is JSON-encoded, never spliced raw.
    `criteria` adds conditions (`{"modified": {"$gte": "..."}}`); `after` asks for the rows
    after that (path, name) (keyset paging; `offset` is then 0); `fields` are item fields
    only, so sort, offset and limit keep working (reference §2.6)."""
    where = {"repo": repo_key, "type": "file", **(criteria or {})}
    if after is not None:
        # Inside `$and`, so criteria that hold an `$or` of their own keep it.
        prior = where.get("$and")
        prior = [] if prior is None else prior if isinstance(prior, list) else [prior]
        where["$and"] = [*prior, keyset_criteria(after)]
    fields = ",".join(json.dumps(f) for f in fields)
    return (
        f"items.find({json.dumps(where, separators=(',', ':'))})"
        f".include({fields})"
        '.sort({"$asc":["path","name"]})'
        f".offset({offset}).limit({limit})"
    )


def parse_cursor(cursor: str) -> int | Position:
    """A saved cursor: `aqlk:["path","name"]` (keyset), or `aql:<offset>` (earlier versions).

    :raises SourceError: a cursor migrator does not write.
    """
    if cursor.startswith(KEYSET_CURSOR):
        try:
            value = json.loads(cursor[len(KEYSET_CURSOR):])
        except ValueError:
            value = None
        if (isinstance(value, list) and len(value) == 2
                and all(isinstance(v, str) for v in value)):
            return value[0], value[1]
    kind, _, position = cursor.partition(":")
    if kind == "aql" and position.isdigit():
        return int(position)
    raise SourceError(f"saved Artifactory cursor {shorten(cursor, 80)!r} is not one migrator "
                      "writes", hint="use a new state file to crawl this repository again")


def last_position(rows: list[Any]) -> Position | None:
    """(path, name) of the last row that has both: where the next keyset page starts."""
    for row in reversed(rows):
        if isinstance(row, dict):
            path, name = row.get("path"), row.get("name")
            if isinstance(path, str) and isinstance(name, str):
                return path, name
    return None


def shorten_position(position: Position) -> str:
    return repr(shorten(f"{position[0]}/{position[1]}", 80))
