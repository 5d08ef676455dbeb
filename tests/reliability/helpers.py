"""Shared by the reliability tests: the end-to-end fixtures of tests/e2e (the real sandbox
process, the CLI runner, the request and state readers), the hostile Nexus process, the soak
switch, and the checks every scenario ends with."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_E2E = ROOT / "tests" / "e2e"


def _load_e2e():
    """tests/e2e as a package (its helpers use relative imports), whoever collected it."""
    for name in ("tests.e2e", "e2e"):
        if name in sys.modules:
            return (importlib.import_module(f"{name}.conftest"),
                    importlib.import_module(f"{name}.transfer_helpers"))
    spec = importlib.util.spec_from_file_location(
        "e2e", _E2E / "__init__.py", submodule_search_locations=[str(_E2E)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["e2e"] = module
    spec.loader.exec_module(module)
    return importlib.import_module("e2e.conftest"), importlib.import_module("e2e.transfer_helpers")


e2e_conftest, e2e_helpers = _load_e2e()
start_sandbox = e2e_conftest.start_sandbox
stop_sandbox = e2e_conftest.stop_sandbox
RunningSandbox = e2e_conftest.RunningSandbox
engine = e2e_helpers.engine
request_log = e2e_helpers.request_log
write_log = e2e_helpers.write_log
publish_writes = e2e_helpers.publish_writes
asset_statuses = e2e_helpers.asset_statuses
state_rows = e2e_helpers.state_rows
summary = e2e_helpers.summary

#: `make soak` sets it: the same scenarios, bigger (more kills, more seeds).
SOAK = os.environ.get("MIGRATOR_SOAK", "") not in ("", "0")


def integrity_ok(state: Path) -> None:
    con = sqlite3.connect(state)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)], state
        assert con.execute("PRAGMA foreign_key_check").fetchall() == [], state
    finally:
        con.close()


@dataclass
class HostileNexus:
    proc: subprocess.Popen
    url: str
    canary_url: str
    username: str
    password: str


def start_hostile(*args: str) -> HostileNexus:
    """`python -m migrator_sandbox.hostile ARGS`, once it answers (stop it with stop_hostile)."""
    proc = subprocess.Popen([sys.executable, "-m", "migrator_sandbox.hostile", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if line:
                info = json.loads(line)
                return HostileNexus(proc, info["url"], info["canary_url"], info["username"],
                                    info["password"])
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"the hostile Nexus did not start: {proc.stderr.read()}")


def stop_hostile(h: HostileNexus) -> None:
    if h.proc.poll() is None:
        os.kill(h.proc.pid, signal.SIGTERM)
        try:
            h.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(h.proc.pid, signal.SIGKILL)
            h.proc.wait(timeout=20)


def rows(state: Path, sql: str, args: tuple = ()) -> list[tuple]:
    """Rows of a query on the state file at `state`."""
    con = sqlite3.connect(state)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()
