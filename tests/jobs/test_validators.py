"""Every file in jobs/ passes the validator of its ecosystem, and each validator, run the same
way, rejects a deliberately broken copy: the validation is not a no-op."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import (
    CFN_FILES,
    GITHUB_FILES,
    GITLAB_FILES,
    JOBS,
    KUBERNETES_FILES,
    KUBERNETES_VERSION,
    SYSTEMD_UNITS,
    run,
    tool,
)


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def _broken(tmp_path: Path, src: Path, old: str, new: str) -> Path:
    text = src.read_text()
    assert old in text, f"{src.name} no longer contains {old!r}: update the test"
    out = tmp_path / src.name
    out.write_text(text.replace(old, new, 1))
    return out


def test_every_file_of_jobs_is_validated():
    validated = {*KUBERNETES_FILES, *GITHUB_FILES, *GITLAB_FILES, *CFN_FILES, *SYSTEMD_UNITS,
                 JOBS / "systemd" / "migrator.sysusers"}
    skipped = {p for p in JOBS.rglob("*") if p.is_file() and p not in validated
               and p.suffix not in {".md", ".json"}}  # docs; JSON policies: test_policies.py
    assert not skipped, f"files in jobs/ no test validates: {sorted(skipped)}"
    assert len(KUBERNETES_FILES) == 2 and CFN_FILES and GITHUB_FILES and GITLAB_FILES


# ---- Kubernetes: kubernetes-validate (schemas shipped in the package, offline) -------------

def _kubernetes_validate(path: Path):
    return run(tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, path)


@pytest.mark.parametrize("path", KUBERNETES_FILES, ids=_ids(KUBERNETES_FILES))
def test_kubernetes_files_validate(path: Path):
    r = _kubernetes_validate(path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "passed" in r.stdout and "ERROR" not in r.stdout + r.stderr


@pytest.mark.parametrize(("old", "new", "said"), [
    ("completions: 3", "completions: three", "completions"),          # wrong type
    ("completionMode: Indexed", "completionMod: Indexed", "completionMod"),  # unknown field
])
def test_kubernetes_validate_rejects_a_broken_job(tmp_path: Path, old: str, new: str, said: str):
    bad = _broken(tmp_path, JOBS / "kubernetes" / "indexed-job-shards.yaml", old, new)
    r = _kubernetes_validate(bad)
    assert r.returncode != 0 and said in r.stdout + r.stderr, r.stdout + r.stderr


# ---- GitHub Actions and GitLab CI: check-jsonschema's vendored schemas (offline) -----------

def _check_jsonschema(schema: str, path: Path):
    return run(tool("check-jsonschema"), "--builtin-schema", schema, path)


@pytest.mark.parametrize("path", GITHUB_FILES, ids=_ids(GITHUB_FILES))
def test_github_workflow_validates(path: Path):
    r = _check_jsonschema("vendor.github-workflows", path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_github_schema_rejects_a_broken_workflow(tmp_path: Path):
    bad = _broken(tmp_path, GITHUB_FILES[0], "id-token: write", "id-token: admin")
    r = _check_jsonschema("vendor.github-workflows", bad)
    assert r.returncode != 0 and "admin" in r.stdout + r.stderr, r.stdout + r.stderr


@pytest.mark.parametrize("path", GITLAB_FILES, ids=_ids(GITLAB_FILES))
def test_gitlab_ci_validates(path: Path):
    r = _check_jsonschema("vendor.gitlab-ci", path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_gitlab_schema_rejects_a_broken_pipeline(tmp_path: Path):
    bad = _broken(tmp_path, GITLAB_FILES[0], "  timeout: 6h", "  timeout: [6h]")
    r = _check_jsonschema("vendor.gitlab-ci", bad)
    assert r.returncode != 0, r.stdout + r.stderr


# ---- AWS Batch: cfn-lint --------------------------------------------------------------------

@pytest.mark.parametrize("path", CFN_FILES, ids=_ids(CFN_FILES))
def test_cloudformation_template_passes_cfn_lint(path: Path):
    r = run(tool("cfn-lint"), "--", path)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize(("old", "new", "rule"), [
    ("Type: container", "Type: containr", "E3030"),            # not an allowed value
    ("PlatformCapabilities: [FARGATE]", "PlatformCapabilitie: [FARGATE]", "E3002"),  # no such
])
def test_cfn_lint_rejects_a_broken_template(tmp_path: Path, old: str, new: str, rule: str):
    bad = _broken(tmp_path, CFN_FILES[0], old, new)
    r = run(tool("cfn-lint"), "--", bad)
    assert r.returncode != 0 and rule in r.stdout, r.stdout + r.stderr


# ---- systemd: systemd-analyze verify, systemd-sysusers --dry-run ----------------------------
# `verify` checks that ExecStart's binary exists and is executable. The units name the path
# they are installed with (/usr/local/bin/migrator), so they are verified unchanged in a
# root of their own (--root): the system's unit directory (for the targets they refer to),
# the units in etc/systemd/system, an executable at usr/local/bin/migrator.

def _systemd_root(tmp_path: Path, units: list[Path], binary: bool = True) -> Path:
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in units:
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
    if binary:
        exe = root / "usr/local/bin/migrator"
        exe.parent.mkdir(parents=True)
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(0o755)
    return root


def _verify(root: Path, units: list[Path]):
    return run(tool("systemd-analyze"), "verify", f"--root={root}", "--man=no",
               *[u.name for u in units])


def test_systemd_units_verify_without_a_warning(tmp_path: Path):
    r = _verify(_systemd_root(tmp_path, SYSTEMD_UNITS), SYSTEMD_UNITS)
    # warnings (an unknown key, a bad value: systemd ignores them) exit 0 too: none allowed
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


@pytest.mark.parametrize(("unit", "old", "new"), [
    ("migrator-sync.service", "Type=oneshot", "Type=oneshoot"),
    ("migrator-sync.service", "ProtectSystem=strict", "ProtectSytem=strict"),
    ("migrator-sync.timer", "OnCalendar=*-*-* 02:30:00 UTC", "OnCalendar=nightly at half past"),
])
def test_systemd_analyze_rejects_a_broken_unit(tmp_path: Path, unit: str, old: str, new: str):
    bad = _broken(tmp_path, JOBS / "systemd" / unit, old, new)
    units = [bad if u.name == unit else u for u in SYSTEMD_UNITS]
    r = _verify(_systemd_root(tmp_path, units), SYSTEMD_UNITS)
    assert r.returncode != 0 or (r.stdout + r.stderr).strip(), "the broken unit passed"
    assert unit in r.stdout + r.stderr


def test_systemd_analyze_rejects_a_missing_binary(tmp_path: Path):
    r = _verify(_systemd_root(tmp_path, SYSTEMD_UNITS, binary=False), SYSTEMD_UNITS)
    assert r.returncode != 0 and "/usr/local/bin/migrator" in r.stderr, r.stderr


def _sysusers(tmp_path: Path, conf: Path):
    root = tmp_path / "sysroot"
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group"):
        (root / "etc" / name).touch()
    return run(tool("systemd-sysusers"), f"--root={root}", "--dry-run", conf.resolve())


def test_sysusers_creates_the_dedicated_user(tmp_path: Path):
    r = _sysusers(tmp_path, JOBS / "systemd" / "migrator.sysusers")
    assert r.returncode == 0, r.stderr
    assert "Creating user 'migrator'" in r.stdout + r.stderr


def test_sysusers_rejects_a_broken_line(tmp_path: Path):
    bad = _broken(tmp_path, JOBS / "systemd" / "migrator.sysusers", "u migrator", "x migrator")
    r = _sysusers(tmp_path, bad)
    assert r.returncode != 0, r.stdout + r.stderr


# systemd's own review of the sandboxing, offline: exposure 0.0 (locked down) to 10.0; the
# threshold is in tenths. 1.5 leaves room for a systemd that scores one more option, not for
# a dropped hardening line.
EXPOSURE_THRESHOLD = 15


def _security(root: Path):
    return run(tool("systemd-analyze"), "security", "--offline=true", f"--root={root}",
               f"--threshold={EXPOSURE_THRESHOLD}", "migrator-sync.service")


def test_the_service_is_sandboxed(tmp_path: Path):
    r = _security(_systemd_root(tmp_path, SYSTEMD_UNITS))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr


def test_the_review_notices_dropped_hardening(tmp_path: Path):
    unit = JOBS / "systemd" / "migrator-sync.service"
    kept = [line for line in unit.read_text().splitlines()
            if not line.startswith(("Protect", "Private", "Restrict", "SystemCall"))]
    bad = tmp_path / unit.name
    bad.write_text("\n".join(kept) + "\n")
    units = [bad if u.name == unit.name else u for u in SYSTEMD_UNITS]
    r = _security(_systemd_root(tmp_path, units))
    assert r.returncode != 0, r.stdout[-2000:]
