"""A local AWS CodeArtifact: control plane from botocore's model, native Maven/npm/PyPI
endpoints, generic publish, tokens, statuses, origin controls, package groups, upstreams and
external connections, quotas, fault injection and a request log (reference codeartifact.md).

`Emulator(...)` is the whole thing as an ASGI app; `migrator_sandbox.serve` runs it together
with the Nexus and Artifactory emulators.
"""

from .app import Emulator
from .faults import FaultConfig, RequestLog
from .quotas import QuotaConfig
from .store import Behaviour, Store

__all__ = ["Behaviour", "Emulator", "FaultConfig", "QuotaConfig", "RequestLog", "Store"]
