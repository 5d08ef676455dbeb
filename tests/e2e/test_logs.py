"""Logs never carry a secret, even at --verbose where botocore prints every request with its
SigV4 `Authorization` and `X-Amz-Security-Token` headers; `--log-format json` gives one JSON
object per line, and the global options may follow the command."""

from __future__ import annotations

import json
import re

import pytest

from .transfer_helpers import engine

pytestmark = pytest.mark.e2e

SESSION = "IQoJb3JpZ2luX2VjDistinctiveSessionToken0123456789"


def test_verbose_json_logs_of_a_run_hold_no_secret(sandbox):
    env = {"AWS_SESSION_TOKEN": SESSION}
    r = engine(sandbox, "run", "demo.toml", "--verbose", "--log-format", "json", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"time", "level", "logger", "message"} <= set(records[0])
    text = r.stderr + r.stdout
    # botocore really logged its requests at this verbosity, headers included ...
    assert any(rec["logger"].startswith("botocore") for rec in records)
    assert "X-Amz-Security-Token" in text and "Authorization" in text
    # ... and none of the values
    secrets = [SESSION, *(v for k, v in sandbox.info["env"].items()
                          if any(w in k for w in ("PASSWORD", "SECRET", "TOKEN"))
                          and len(v) >= 6)]
    assert len(secrets) >= 3
    for secret in secrets:
        assert secret not in text, f"a secret ({secret[:4]}...) is in the logs"
    assert not re.search(r"Signature=[0-9a-f]{16,}", text)
