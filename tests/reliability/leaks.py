"""Where a credential must never be found: every output line (at --verbose), the state and
its side files, the spool, the reports. The credentials are the sandbox's own (its Nexus
password, its AWS secret key) plus a distinctive AWS session token each run gets."""

from __future__ import annotations

import re
from pathlib import Path

SESSION = "IQoJb3JpZ2luX2VjReliabilitySessionToken0123456789abcdef"
_SIGNATURE = re.compile(r"Signature=[0-9a-f]{16,}")


def distinctive_env() -> dict[str, str]:
    return {"AWS_SESSION_TOKEN": SESSION}


def secrets_of(sb) -> list[str]:
    found = [SESSION, *(v for k, v in sb.info["env"].items()
                        if any(w in k for w in ("PASSWORD", "SECRET", "TOKEN")) and len(v) >= 6)]
    assert len(found) >= 3, found  # the session token, the Nexus password, the AWS secret
    return found


def files_to_search(workdir: Path) -> list[Path]:
    """The state (with -wal/-shm and backups), the spool, reports: everything a run left."""
    return [p for p in workdir.rglob("*") if p.is_file() and p.name != "demo.toml"]


def assert_no_secrets(sb, outputs: list[str], extra_dirs: tuple[Path, ...] = ()) -> None:
    secrets = secrets_of(sb)
    text = "\n".join(outputs)
    for secret in secrets:
        assert secret not in text, f"a secret ({secret[:4]}...) is in the output"
    assert not _SIGNATURE.search(text), _SIGNATURE.search(text)
    for folder in (sb.workdir, *extra_dirs):
        for path in files_to_search(folder):
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"a secret ({secret[:4]}...) is in {path}"
