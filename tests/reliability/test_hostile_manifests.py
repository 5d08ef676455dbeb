"""Hostile manifests: each refused by `migrator plan` with one readable `error:` line (and its
hint), exit 2, nothing echoed that would drive a terminal, no secret repeated, no traceback,
and nothing written anywhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

BASE = """[source]
kind = "nexus"
url = "http://127.0.0.1:9"
username_env = "HM_USER"
password_env = "HM_PASS"
[target]
domain = "acme"
domain_owner = "111122223333"
region = "us-east-1"
"""
REPO = '[[repositories]]\nsource = "maven-releases"\ntarget = "files"\n'
SECRET = "Sup3r-Secret-Manifest-Pw"
CASES = {
    "binary garbage": b"\x00\x01\xff\xfe[[[ not toml \x1b[2J",
    "nested 5,000 deep": ("a = " + "[" * 5000 + "]" * 5000 + "\n").encode(),
    "credentials in the URL": BASE.replace("http://127.0.0.1:9",
                                           f"http://admin:{SECRET}@127.0.0.1:9").encode(),
    "a password written in": (BASE.replace('password_env = "HM_PASS"',
                                           f'password = "{SECRET}"') + REPO).encode(),
    "ANSI in a repository": (BASE + '[[repositories]]\nsource = "\\u001b[2Jevil"\n'
                             'target = "files"\n').encode(),
    "NUL in a repository": (BASE + '[[repositories]]\nsource = "a\\u0000b"\n'
                            'target = "files"\n').encode(),
    "10,000-character repository": (BASE + '[[repositories]]\nsource = "' + "r" * 10_000
                                    + '"\ntarget = "files"\n').encode(),
    "OSC title in the kind": BASE.replace('kind = "nexus"',
                                          'kind = "\\u001b]0;pwned\\u0007"').encode(),
    "absurd concurrency": (BASE + REPO + "[options]\nconcurrency = " + "9" * 30 + "\n").encode(),
    "a bell in a glob": (BASE + REPO + 'include = ["**/*\\u0007.jar"]\n').encode(),
    "not a table": b'source = "nexus"\ntarget = 3\n',
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_manifest_is_refused_in_one_readable_line(tmp_path, case):
    manifest = tmp_path / "hostile.toml"
    manifest.write_bytes(CASES[case])
    before = set(os.listdir(tmp_path))
    r = subprocess.run([sys.executable, "-m", "migrator", "--no-progress", "plan", str(manifest)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "HM_USER": "u", "HM_PASS": "p"})
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and "hostile.toml" in lines[0], lines
    assert all(line.startswith("  hint: ") for line in lines[1:]) and len(lines) <= 2, lines
    assert max(len(line) for line in lines) < 600, [len(line) for line in lines]
    assert not _CONTROL.search(r.stderr + r.stdout), repr(r.stderr)
    assert "Traceback" not in r.stderr and SECRET not in r.stderr + r.stdout
    assert set(os.listdir(tmp_path)) == before  # no state, no spool, nothing
