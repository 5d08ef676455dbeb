from __future__ import annotations

from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "sample-manifests" / "lockfiles"


@pytest.fixture
def samples() -> Path:
    return SAMPLES
