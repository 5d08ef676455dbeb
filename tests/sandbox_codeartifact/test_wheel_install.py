"""`pip install 'migrator[sandbox]'` from the built wheel, in a fresh venv outside the checkout:
`migrator sandbox serve` finds its packaged demo seed, and `migrator run` migrates it, verified.

Nothing of the checkout is importable there: the sources are copied to tmp_path and built into a
wheel, the venv has no editable install and every process runs from a folder in tmp_path.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DIST_SOURCES = ("pyproject.toml", "README.md", "migrator", "migrator_sandbox")


def _clean_env() -> dict[str, str]:
    """This process's environment without anything that points Python at the checkout's venv."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    return {**env, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def _build_wheel(tmp_path: Path) -> Path:
    # Built from a copy, so no build/ or *.egg-info lands in the checkout and no stale
    # build/lib of an earlier build can slip files into this wheel.
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in DIST_SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, src / name)
    dist = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist),
                           str(src)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env=_clean_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = dist.glob("migrator-*.whl")
    return wheel


def _read_ready_line(proc: subprocess.Popen, stderr_file: Path, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.5)[0]:
            line = proc.stdout.readline()
            if line:
                return json.loads(line)
        if proc.poll() is not None:
            break
    raise AssertionError(f"no JSON line from the installed sandbox (rc {proc.poll()}):\n"
                         f"{stderr_file.read_text()}")


def _stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
    return proc.returncode


def test_installed_wheel_serves_the_demo_seed_and_migrates_it(tmp_path: Path) -> None:
    assert ROOT not in tmp_path.parents, "the test must run outside the checkout"
    wheel = _build_wheel(tmp_path)

    # Every file of the demo seed is in the wheel, whatever its extension.
    seed_dir = ROOT / "migrator_sandbox" / "demo_seed"
    expected = {f"migrator_sandbox/demo_seed/{p.relative_to(seed_dir).as_posix()}"
                for p in seed_dir.rglob("*") if p.is_file()}
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    assert "migrator_sandbox/demo_seed/repos.toml" in expected
    assert expected - in_wheel == set()

    venv = tmp_path / "venv"
    env = _clean_env()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=env)
    bin_dir = venv / "bin"
    install = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", f"{wheel}[sandbox]"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]

    work = tmp_path / "work"
    work.mkdir()
    where = subprocess.run(
        [str(bin_dir / "python"), "-c",
         "import json, migrator, migrator_sandbox; print(json.dumps([migrator.__file__, "
         "migrator_sandbox.__file__, str(migrator_sandbox.DEMO_SEED)]))"],
        capture_output=True, text=True, timeout=60, cwd=work, env=env, check=True)
    for path in json.loads(where.stdout):
        assert Path(path).is_relative_to(venv), f"{path} is not the installed copy"

    stderr_file = tmp_path / "serve.stderr"
    with stderr_file.open("w") as stderr:
        server = subprocess.Popen(
            [str(bin_dir / "migrator"), "sandbox", "serve", "--write-manifest", "m.toml"],
            cwd=work, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    try:
        info = _read_ready_line(server, stderr_file, timeout=60)
        assert info["codeartifact"]["endpoint_url"].startswith("http://127.0.0.1:")
        run = subprocess.run(
            [str(bin_dir / "migrator"), "--no-progress", "run", "m.toml", "--json"],
            capture_output=True, text=True, timeout=300, cwd=work, env={**env, **info["env"]})
    finally:
        stopped = _stop(server)

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assets = summary["assets"]
    assert assets.get("verified", 0) > 0 and summary["this_run"]["verified"] == assets["verified"]
    assert set(assets) <= {"verified", "ingested", "excluded"}, assets  # nothing failed
    assert sum(assets.values()) == summary["planned_assets"]
    assert stopped == 0, stderr_file.read_text()  # a clean stop on SIGTERM
