"""No secret anywhere the tool writes: after a `--verbose` run with a distinctive session
token, neither the logs, the state file (with its WAL), the spool folder, `status` (text,
JSON, the live view), every report format nor the certificate holds a credential's value."""

from __future__ import annotations

import pytest

from .transfer_helpers import engine

pytestmark = pytest.mark.e2e

SESSION = "IQoJb3JpZ2luX2VjLiveStatusSessionToken7f3a91"


def test_no_secret_in_logs_state_spool_status_reports_or_certificate(sandbox):
    env = {"AWS_SESSION_TOKEN": SESSION}
    secrets = [SESSION, *(v for k, v in sandbox.info["env"].items()
                          if any(w in k for w in ("PASSWORD", "SECRET", "TOKEN"))
                          and len(v) >= 6)]
    assert len(secrets) >= 3
    ran = engine(sandbox, "--verbose", "run", "demo.toml", "--json", env=env)
    assert ran.returncode == 0, ran.stderr[-3000:]
    texts = {"run stdout": ran.stdout, "run logs": ran.stderr}
    for args in (("status", "demo.toml"), ("status", "demo.toml", "--json"),
                 ("--verbose", "report", "demo.toml", "--format", "json"),
                 ("report", "demo.toml", "--format", "csv"),
                 ("report", "demo.toml", "--format", "html"),
                 ("report", "demo.toml", "--format", "text")):
        r = engine(sandbox, *args, env=env)
        assert r.returncode == 0, r.stderr
        texts[" ".join(args)] = r.stdout + r.stderr
    cert = sandbox.workdir / "cert.jsonl"
    r = engine(sandbox, "report", "demo.toml", "--format", "certificate", "--out", str(cert))
    assert r.returncode == 0, r.stderr
    files = [cert, *sorted((sandbox.workdir / "state").rglob("*"))]
    assert any(f.name == "demo.sqlite" for f in files)
    for f in files:
        if f.is_file():
            texts[str(f)] = f.read_bytes().decode("latin-1")
    assert "NEXUS_PASSWORD" in texts["report demo.toml --format html"]  # names are kept
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:4]}...) is in {where}"
