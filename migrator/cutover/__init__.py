"""The cut-over kit: the client configuration and IAM policies teams switch their builds with.

`write_kit(manifest, state_path, out)` reads which target repositories and formats were
migrated (the state) and where they live (`GetRepositoryEndpoint`, never a built URL), and
writes, per repository and format, Maven/Gradle, npm, pip/Poetry/uv files, least-privilege IAM
policies and a README with the login commands. Every file refers to the token through the
`CODEARTIFACT_AUTH_TOKEN` environment variable; no secret is ever written.
"""

from migrator.cutover.iam import consumer_policy, migrator_policy
from migrator.cutover.kit import KitRepository, KitResult, write_kit

__all__ = ["KitRepository", "KitResult", "consumer_policy", "migrator_policy", "write_kit"]
