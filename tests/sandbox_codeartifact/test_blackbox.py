"""The sandbox is a black box beside the core: it imports nothing from `migrator`, and its
command reports its own errors (the core CLI catches only `MigratorError`)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import migrator_sandbox

PACKAGE = Path(migrator_sandbox.__file__).resolve().parent


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_sandbox_imports_nothing_from_the_core() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(
            m for m in _imported_modules(path) if m == "migrator" or m.startswith("migrator.")
        )
        for path in sorted(PACKAGE.rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_a_bad_seed_is_one_error_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "repos.toml").write_text('[[repository]]\nname = "x"\nformat = "cobol"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "migrator", "sandbox", "serve", "--seed", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    first, *rest = proc.stderr.splitlines()
    assert first.startswith("error: ") and "repos.toml" in first and ".format" in first
    assert len(rest) == 1 and rest[0].startswith("  hint: ")  # the fix, on its own line


def test_a_missing_seed_is_one_error_line_and_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "migrator_sandbox.serve", "serve", "--seed", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: {tmp_path / 'repos.toml'}: no repos.toml")


def test_the_core_cli_loads_the_sandbox_only_for_the_sandbox_command() -> None:
    code = ("import sys, migrator.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('migrator_sandbox', 'starlette', 'uvicorn')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert proc.stdout.strip() == "[]"


def test_without_the_sandbox_extra_the_command_says_what_to_install() -> None:
    code = ("import sys; sys.modules['starlette'] = sys.modules['uvicorn'] = None; "
            "from migrator.cli import main; main(['sandbox', 'serve'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: the sandbox needs ")
    assert "pip install 'migrator[sandbox]'" in proc.stderr
