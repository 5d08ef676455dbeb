"""Crash anywhere: runs killed with SIGKILL at instants drawn from a seeded RNG (a registered
crash point of migrator.crashpoints and how many times it is passed first), each followed by
`migrator resume` (which the next kill may hit in turn). After every kill the state passes
`PRAGMA integrity_check`, and every asset is either verified with the source's bytes' hashes
recorded as the target's, or in an honest status that says it is not (nothing is verified
that was not checked). At the end: every copied asset is verified, `migrator verify` re-reads
them all from CodeArtifact, and the sandbox's request log shows each written exactly once.

CI: 5 kills with one seed (about 40 s). `make soak` (MIGRATOR_SOAK=1): 24 kills per seed, 3
seeds. One worker, as in tests/e2e/test_transfer_crash.py: with more, another upload can be
between its answer and its commit at the instant of the kill, and repeating it is correct
(identical bytes) but is a second write.
"""

from __future__ import annotations

import hashlib
import random
import signal

import pytest

from .helpers import (
    ROOT,
    SOAK,
    engine,
    integrity_ok,
    publish_writes,
    rows,
    start_sandbox,
    stop_sandbox,
    summary,
)

pytestmark = pytest.mark.e2e

SEED = ROOT / "migrator_sandbox" / "demo_seed"
# point → the largest count drawn (about how often one run of the demo seed passes it)
POINTS = {"crawl": 3, "mid-download": 6, "download": 6, "recorded": 6,
          "recorded-maven": 4, "recorded-npm": 3, "recorded-pypi": 3, "recorded-generic": 2,
          "verify": 4}
HONEST = {"discovered", "claimed", "downloaded", "published", "failed_retryable",
          "excluded", "verified", "skipped_identical", "ingested", "requested"}
KILLS, SEEDS = (24, (1, 2, 3)) if SOAK else (5, (20261201,))


def seed_sha256() -> dict[tuple[str, str], str]:
    out = {}
    for path in SEED.rglob("*"):
        if path.is_file() and path.name != "repos.toml":
            repo, rel = path.relative_to(SEED).parts[0], "/".join(path.relative_to(SEED).parts[1:])
            out[(repo, rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def check_honest(state, truth: dict[tuple[str, str], str]) -> None:
    integrity_ok(state)
    found = rows(state, "SELECT r.source, a.path, a.status, a.dl_sha256, a.tgt_sha256 "
                 "FROM assets a JOIN repositories r ON r.id = a.repository_id")
    for repo, path, status, downloaded, target in found:
        assert status in HONEST, (repo, path, status)
        if status == "verified":
            # verified means: the target's hash was read and is the source's bytes' hash
            assert target == truth[(repo, path)] and downloaded in (None, target), (
                repo, path, downloaded, target)


def one_round(folder, rng: random.Random, truth, budget: int) -> list[str]:
    """A fresh sandbox and state, killed at drawn instants until a run finishes (or `budget`
    kills), then resumed to the end and checked; returns the kills."""
    folder.mkdir()
    sb = start_sandbox(folder)
    state = folder / "state" / "demo.sqlite"
    try:
        sb.manifest.write_text(sb.manifest.read_text().replace("concurrency = 8",
                                                               "concurrency = 1"))
        kills: list[str] = []
        command = ["run", "demo.toml"]
        while len(kills) < budget:
            point = rng.choice(sorted(POINTS))
            spec = f"{point}:{rng.randint(1, POINTS[point])}"
            r = engine(sb, *command, "--json", env={"MIGRATOR_TEST_CRASH_AT": spec})
            command = ["resume", "--state", "state/demo.sqlite"]
            if state.exists():
                check_honest(state, truth)
            if r.returncode != -signal.SIGKILL:
                # the drawn point was not reached again: this run went to the end
                assert r.returncode == 0, (kills, spec, r.returncode, r.stderr[-3000:])
                break
            kills.append(spec)
        r = engine(sb, "resume", "--state", "state/demo.sqlite", "--json")
        assert r.returncode == 0, (kills, r.stdout[-3000:], r.stderr[-3000:])
        result = summary(r)
        check_honest(state, truth)
        modes = dict(rows(state, "SELECT source, mode FROM repositories"))
        copied = {(repo, path) for repo, path, s in rows(
            state, "SELECT r.source, a.path, CASE WHEN v.status = 'excluded' THEN 'excluded' "
            "ELSE a.status END FROM assets a JOIN repositories r ON r.id = a.repository_id "
            "LEFT JOIN versions v ON v.id = a.version_id") if modes[repo] == "copy"
            and s != "excluded"}
        assert len(copied) == result["assets"]["verified"], (kills, result["assets"])
        writes = publish_writes(sb)
        assert len(writes) == len(copied), kills
        assert set(writes.values()) == {1}, (kills, {k: n for k, n in writes.items() if n != 1})
        check = engine(sb, "verify", "--state", "state/demo.sqlite", "--json")
        assert check.returncode == 0, (kills, check.stdout[-3000:], check.stderr[-2000:])
        return kills
    finally:
        stop_sandbox(sb)


@pytest.mark.timeout(1800 if SOAK else 300)  # 24 kills and resumes take about 5 minutes
@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_at_random_instants_then_resume_loses_and_repeats_nothing(tmp_path, seed):
    rng = random.Random(seed)
    truth = seed_sha256()
    kills: list[str] = []
    rounds = 0
    while len(kills) < KILLS and rounds < KILLS:
        rounds += 1
        kills += one_round(tmp_path / f"round-{rounds}", rng, truth, KILLS - len(kills))
    assert len(kills) >= KILLS, kills
