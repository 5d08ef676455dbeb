"""Local stand-ins for CodeArtifact, Nexus 3 and Artifactory (the `migrator sandbox`).

A black box beside the core: nothing here imports `migrator`, and the core reaches the sandbox
only through the `migrator sandbox` command (loaded lazily) and over HTTP.
"""

from pathlib import Path

# The demo seed corpus (repos.toml + real package files), shipped as package data so that
# `migrator sandbox serve` works from an installed wheel. A real directory: the emulators walk it.
DEMO_SEED = Path(__file__).resolve().parent / "demo_seed"
