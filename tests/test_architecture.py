"""The layers are checked by a tool: `lint-imports` keeps the contracts in pyproject.toml, and
breaking one (an import against the layers, the core reaching into the sandbox, the sandbox
reaching into the core) makes it fail, naming the contract and the import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH first: the copies in `tree` shadow the editable install of the checkout.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and the contracts, to break on purpose."""
    for package in ("migrator", "migrator_sandbox"):
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "demo_seed", "seed"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_checkout_keeps_every_contract(tree):
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    # a value object reaching up into the orchestration
    ("migrator/models.py", "import migrator.pipeline.engine", "cli -> pipeline"),
    # publishers must not see the state
    ("migrator/target/maven.py", "import migrator.state.queue", "cli -> pipeline"),
    # the core must not reach into the stand-ins
    ("migrator/state/queue.py", "import migrator_sandbox.codeartifact",
     "the core imports nothing of the sandbox"),
    # the stand-ins must not share the tool's assumptions
    ("migrator_sandbox/codeartifact/store.py", "import migrator.verification",
     "the sandbox imports nothing of the core"),
])
def test_an_import_against_the_architecture_fails_the_lint(tree, module, line, contract):
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = lint(tree)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken and line.split()[-1] in broken, result.stdout
