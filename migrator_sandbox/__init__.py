"""Local stand-ins for CodeArtifact, Nexus 3 and Artifactory (the `migrator sandbox`)."""
