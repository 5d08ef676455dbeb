"""Shards: one migration split by package across processes that know nothing of each other.

    resolve_shard("2/3")                          -> Shard(2, 3)
    resolve_shard("auto", shards=3, environ=env)  -> from JOB_COMPLETION_INDEX (Kubernetes
                                                     Indexed Job) or AWS_BATCH_JOB_ARRAY_INDEX
                                                     (AWS Batch array job), both 0-based
    shard_state_path(Path("state/demo.sqlite"), Shard(2, 3))
                                                  -> state/demo.shard-2-of-3.sqlite
    bind_shard(queue, shard)                      -> the shard the state belongs to (recorded
                                                     on first use, refused if another)
    with_rate_share(manifest, shard, share)       -> the manifest with this shard's budget

The partition itself is `Shard.owns` (migrator.models): a SHA-256 of format, namespace and
package name, so the same package lands in the same shard on every machine. `plan` applies it
to each crawled page before anything is written (`owns_asset`), so a shard's state holds only
its own packages and everything downstream (transfer, verify, finalize, reports) needs no
change. No coordination between shards is needed or wanted: each has its own state file, its
own lock and `1/N` of the account's write budget, which is what keeps N processes under the
CodeArtifact quota together.

The schedulers' variables: Kubernetes sets `JOB_COMPLETION_INDEX` in each pod of an Indexed
Job but not the number of completions (`spec.completions` is not in the environment unless the
Job passes it, e.g. `env: MIGRATOR_SHARDS: "3"`); AWS Batch sets `AWS_BATCH_JOB_ARRAY_INDEX`
and `AWS_BATCH_JOB_ARRAY_SIZE` in each child of an array job. N comes from `--shards`, else
`MIGRATOR_SHARDS`, else `AWS_BATCH_JOB_ARRAY_SIZE`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path

from migrator.errors import ConfigError
from migrator.manifest import Manifest
from migrator.models import DiscoveredAsset, Shard
from migrator.state import WorkQueue

__all__ = [
    "INDEX_VARIABLES",
    "SHARD_META",
    "bind_shard",
    "owns_asset",
    "owns_row",
    "recorded_shard",
    "resolve_shard",
    "shard_state_path",
    "with_rate_share",
]

#: Where each scheduler puts the 0-based index of this process, in the order they are read.
INDEX_VARIABLES = ("JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX")
#: Where the number of shards may come from when `--shards` is not given.
COUNT_VARIABLES = ("MIGRATOR_SHARDS", "AWS_BATCH_JOB_ARRAY_SIZE")
#: The state's meta key holding the shard it belongs to (`K/N`).
SHARD_META = "shard"
MAX_SHARDS = 10_000  # AWS Batch's largest array

_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def resolve_shard(spec: str | None, *, shards: int | None = None,
                  environ: Mapping[str, str] | None = None) -> Shard | None:
    """`--shard K/N` or `--shard auto` (with `--shards N`) as a `Shard`; None: not sharded.

    :raises ConfigError: (exit 2) a malformed spec, K outside 1..N, `auto` without an index
        variable or without N, or `--shards` contradicting K/N.
    """
    env = os.environ if environ is None else environ
    if spec is None:
        if shards is not None:
            raise ConfigError(f"--shards {shards} needs --shard auto (or --shard K/{shards})",
                              hint="--shards gives N for --shard auto")
        return None
    if spec.strip().lower() == "auto":
        return _from_environment(env, shards)
    m = _SPEC.fullmatch(spec)
    if not m:
        raise ConfigError(f"--shard {spec!r}: expected K/N (e.g. 2/3) or auto",
                          hint="K is this process's shard, 1 to N")
    index, count = int(m.group(1)), int(m.group(2))
    if shards is not None and shards != count:
        raise ConfigError(f"--shard {spec} and --shards {shards} disagree on N",
                          hint="give one of them")
    return _shard(index, count, f"--shard {spec}")


def _from_environment(env: Mapping[str, str], shards: int | None) -> Shard:
    name = next((v for v in INDEX_VARIABLES if env.get(v, "").strip()), None)
    if name is None:
        raise ConfigError(
            "--shard auto: neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor "
            "AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array job) is set",
            hint="run it inside such a job, or pass --shard K/N")
    raw = env[name].strip()
    if not raw.isdigit():
        raise ConfigError(f"--shard auto: {name}={raw!r} is not a whole number",
                          hint="the scheduler sets it to 0, 1, 2, ...")
    count, source = shards, "--shards"
    if count is None:
        source = next((v for v in COUNT_VARIABLES if env.get(v, "").strip()), "")
        if not source:
            raise ConfigError(
                f"--shard auto: {name} gives this process's index but nothing gives the "
                "number of shards (Kubernetes does not put an Indexed Job's completions in "
                "the environment)",
                hint="pass --shards N (= completions / array size) or set MIGRATOR_SHARDS")
        value = env[source].strip()
        if not value.isdigit():
            raise ConfigError(f"--shard auto: {source}={value!r} is not a whole number",
                              hint="set it to the number of shards")
        count = int(value)
    # The schedulers count from 0; shards are named from 1 (`shard-1-of-3`).
    return _shard(int(raw) + 1, count, f"--shard auto ({name}={raw}, {source}={count})")


def _shard(index: int, count: int, what: str) -> Shard:
    if not 1 <= count <= MAX_SHARDS:
        raise ConfigError(f"{what}: N must be from 1 to {MAX_SHARDS}, got {count}")
    if not 1 <= index <= count:
        raise ConfigError(f"{what}: shard {index} of {count} does not exist",
                          hint=f"K is 1 to {count} (a scheduler's index 0 to {count - 1})")
    return Shard(index, count)


def shard_state_path(path: Path, shard: Shard | None) -> Path:
    """`<stem>.shard-K-of-N<suffix>` beside `path` (unchanged without a shard)."""
    if shard is None:
        return path
    return path.with_name(f"{path.stem}.{shard.label}{path.suffix}")


def recorded_shard(queue: WorkQueue) -> Shard | None:
    """The shard a state belongs to (None: a whole migration)."""
    spec = queue.get_meta(SHARD_META)
    if not spec:
        return None
    index, count = (int(x) for x in spec.split("/"))
    return Shard(index, count)


def bind_shard(queue: WorkQueue, shard: Shard | None) -> Shard | None:
    """Check that `queue` is the state of `shard` (recording it in a new state) and return
    the shard the state belongs to: without `shard`, the recorded one is used, so a `resume
    --state <a shard's file>` stays in its shard.

    :raises ConfigError: (exit 2) the state belongs to another shard, or holds a whole
        (unsharded) migration's packages.
    """
    recorded = recorded_shard(queue)
    if shard is None or recorded == shard:
        return recorded
    if recorded is not None:
        raise ConfigError(
            f"the state {queue.path} belongs to shard {recorded.spec}, not {shard.spec}",
            hint=f"run it with --shard {recorded.spec}, or give shard {shard.spec} its own "
            "--state (the default is one file per shard)")
    if queue.repositories():
        raise ConfigError(
            f"the state {queue.path} holds a whole (unsharded) migration; shard {shard.spec} "
            "cannot take it over",
            hint="give each shard its own state (leave out --state: the default is "
            f"<stem>.{shard.label}.sqlite), or run this state without --shard")
    queue.set_meta(SHARD_META, shard.spec)
    return shard


def owns_asset(shard: Shard | None, repository: str, asset: DiscoveredAsset) -> bool:
    """Whether a crawled file belongs to `shard`: by its package identity; a file with no
    package (an index page, a refused path) by its repository and path, so it too is in
    exactly one shard."""
    if shard is None:
        return True
    c = asset.coordinates
    if c is None:
        return shard.owns("", repository, asset.path)
    return shard.owns(str(c.format), c.namespace, c.package)


def owns_row(shard: Shard, repository: str, path: str, format: str = "",
             package: str = "") -> bool:
    """Whether a row of a report's CSV (`migrator report --format csv`: its `repository`,
    `path`, `format` and `package` = `namespace:name` or `name`) belongs to `shard`, by the
    same partition as `owns_asset`: a row without a package by its repository and path."""
    if not package:
        return shard.owns("", repository, path)
    # Namespaces (Maven group ids, npm scopes) and names never hold a colon.
    namespace, _, name = package.rpartition(":")
    return shard.owns(format, namespace, name)


def with_rate_share(manifest: Manifest, shard: Shard | None,
                    share: float | None = None) -> Manifest:
    """`manifest` with this process's write budget: `share` (writes/s) when given, else
    `options.rate_budget / N` for a shard, else unchanged. The shares of all shards add up
    to the account's budget, so N processes together stay under the CodeArtifact quota.

    :raises ConfigError: a share above the whole budget or not above 0.
    """
    budget = manifest.options.rate_budget
    if share is not None:
        if not 0 < share <= budget:
            raise ConfigError(f"--rate-share {share:g}: must be above 0 and at most "
                              f"options.rate_budget ({budget:g} writes/s)",
                              hint="the shares of all shards should add up to the budget")
        rate = share
    elif shard is not None:
        rate = budget / shard.count
    else:
        return manifest
    return dataclasses.replace(
        manifest, options=dataclasses.replace(manifest.options, rate_budget=rate))
