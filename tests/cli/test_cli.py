"""CLI commands over a state: retry."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "migrator", *args], capture_output=True,
                          text=True, timeout=60)


def test_retry_sends_permanent_failures_back_to_the_queue(tmp_path):
    from migrator.models import (
        AssetUpdate,
        Coordinates,
        DiscoveredAsset,
        Format,
        RepoType,
        VersionResult,
    )
    from migrator.state import WorkQueue

    state = tmp_path / "s.sqlite"
    with WorkQueue.open(state) as q:
        rid = q.upsert_repository(source="npm-internal", target="npm", format=Format.NPM,
                                  repo_type=RepoType.HOSTED, mode="copy")
        c = Coordinates(Format.NPM, "", "left-pad", "1.0.0")
        q.record_page(rid, [(DiscoveredAsset(path="left-pad/-/left-pad-1.0.0.tgz", size=5,
                                             checksums={}, coordinates=c), None)],
                      cursor=None, done=True)
        [v] = q.claim("w", limit=1)
        q.finish("w", [VersionResult(v.id, "failed_permanent", "asset quota", assets=[
            AssetUpdate(v.assets[0].id, "failed_permanent", "asset quota")])])
    r = run_cli("retry", "--state", str(state), "--status", "verified")
    assert r.returncode == 2 and "only failed_permanent and conflict" in r.stderr
    r = run_cli("retry", "--state", str(state), "--repository", "nope")
    assert r.returncode == 2 and "not in this state" in r.stderr
    r = run_cli("retry", "--state", str(state))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("1 package version(s) back in the queue")
    with WorkQueue.open(state) as q:
        assert q.counts()["npm-internal"].assets == {"discovered": 1}
        assert q.counts()["npm-internal"].versions == {"discovered": 1}


def _entry(tmp_path, body):
    """Run `migrator.cli.entry` in a child with `main` replaced by `body`."""
    script = tmp_path / "child.py"
    script.write_text("import sys\nimport migrator.cli as cli\n"
                      f"def fake_main():\n{body}\n"
                      "cli.main = fake_main\ncli.entry()\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered, as
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env=env)  # a scheduler's pipe is


def test_the_program_ends_with_mains_exit_code_and_every_line_written(tmp_path):
    # Output still in the buffers when `main` returns is written before the process ends
    # (stdout to a pipe is block-buffered: this is what a fast exit must not lose).
    done = _entry(tmp_path, "    print('{\"done\": true}', end='')\n"
                            "    print('last words', end='', file=sys.stderr)\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, '{"done": true}', "last words")
    assert _entry(tmp_path, "    sys.exit(3)").returncode == 3
    said = _entry(tmp_path, "    sys.exit('a message')")
    assert (said.returncode, said.stderr) == (1, "a message\n")


def test_an_unexpected_exception_keeps_pythons_traceback_and_exit_code(tmp_path):
    done = _entry(tmp_path, "    raise RuntimeError('boom')")
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "RuntimeError: boom" in done.stderr


def test_python_dash_m_migrator_exits_with_the_commands_code(tmp_path):
    missing = run_cli("status", "--state", str(tmp_path / "none.sqlite"))
    assert missing.returncode == 2 and "no state file" in missing.stderr
    assert run_cli("--version").returncode == 0
