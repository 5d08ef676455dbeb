"""Logging set up once, for the CLI: quiet libraries, one format, no secrets."""

from __future__ import annotations

import logging
import sys

_NOISY = ("httpx", "httpcore", "botocore", "boto3", "urllib3", "uvicorn.access")


def setup_logging(*, verbose: bool = False, quiet: bool = False) -> None:
    """Configure the root logger for a CLI run.

    httpx logs every request at INFO, which would drown progress bars and can print
    URLs; those libraries stay at WARNING unless --verbose.
    """
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                                           "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
