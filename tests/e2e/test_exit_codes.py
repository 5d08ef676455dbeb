"""The README's exit-code table, held against the real CLI: each outcome it names, produced
against the sandbox, ends with the code the table gives it, one `error:` line (when it is an
error) and no traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from migrator.state import WorkQueue

from .conftest import start_sandbox, stop_sandbox
from .transfer_helpers import engine

pytestmark = pytest.mark.e2e

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def table() -> dict[int, str]:
    section = README.split("### Exit codes", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*(\d)\s*\|\s*(.+?)\s*\|", line)
        if m:
            rows[int(m.group(1))] = m.group(2)
    return rows


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    sandbox = start_sandbox(tmp_path_factory.mktemp("exit-codes"))
    yield sandbox
    stop_sandbox(sandbox)


def manifest(sb, name: str, edit=lambda text: text) -> str:
    path = sb.workdir / f"{name}.toml"
    path.write_text(edit(sb.manifest.read_text()))
    return path.name


def run(sb, name: str, *args: str, env: dict[str, str] | None = None):
    return engine(sb, "run", name, *args, env=env)


def no_credentials(sb) -> dict[str, str]:
    names = [k for k in sb.info["env"] if k.startswith(("NEXUS", "ARTIFACTORY"))]
    return {**{k: "" for k in names}}


SCENARIOS = [
    # (README phrase in the row of `code`, code, how to produce it)
    ("everything asked for is done", 0, lambda sb: run(sb, manifest(sb, "ok"))),
    ("failures or conflicts", 1, "corrupt"),
    ("the manifest is wrong", 2,
     lambda sb: run(sb, manifest(sb, "bad", lambda t: t + "\n[oops\n"))),
    ("names unset variables", 2,
     lambda sb: run(sb, manifest(sb, "noenv"), env=no_credentials(sb))),
    ("a mapped repository does not exist", 2,
     lambda sb: run(sb, manifest(sb, "typo", lambda t: t + '\n[[repositories]]\nsource = '
                                 '"maven-relaeses"\ntarget = "maven-releases"\n'))),
    ("`--stage` selects nothing", 2,
     lambda sb: run(sb, manifest(sb, "stage"), "--stage", "0")),
    ("the state is in use by another run", 2, "locked"),
    ("SIGINT/SIGTERM", 3,
     lambda sb: run(sb, manifest(sb, "term"),
                    env={"MIGRATOR_TEST_CRASH_AT": "recorded:2:SIGTERM"})),
]


@pytest.mark.parametrize(("phrase", "code", "how"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_each_outcome_of_the_readme_table_gives_its_exit_code(sb, phrase, code, how):
    assert phrase in table()[code], f"README: {phrase!r} is not in the row of exit code {code}"
    if how == "locked":
        name = manifest(sb, "locked")
        with WorkQueue.open(sb.workdir / "state" / "locked.sqlite", lock_for="test"):
            result = run(sb, name)
    elif how == "corrupt":
        import httpx

        r = httpx.post(f"{sb.info['nexus']['url']}/_sandbox/knobs", json={
            "corrupt_checksum": ["npm-internal/is-number/-/is-number-6.0.0.tgz"]})
        assert r.status_code == 200
        try:
            result = run(sb, manifest(sb, "corrupt"))
        finally:
            httpx.post(f"{sb.info['nexus']['url']}/_sandbox/knobs",
                       json={"corrupt_checksum": []})
    else:
        result = how(sb)
    assert result.returncode == code, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    if code == 2:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, result.stderr
    secrets = [v for k, v in sb.info["env"].items()
               if any(w in k for w in ("PASSWORD", "SECRET", "TOKEN")) and len(v) >= 6]
    assert secrets and not any(v in result.stdout + result.stderr for v in secrets)
