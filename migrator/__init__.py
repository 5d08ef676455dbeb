"""migrator: move private packages from Nexus 3 / Artifactory into AWS CodeArtifact, verified."""

__version__ = "0.1.0"
