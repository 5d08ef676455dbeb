"""Logging set up once, for the CLI: quiet libraries, one format (text or JSON), no secrets.

Every record goes through one handler whose filter redacts what must never be printed, at
any verbosity: SigV4 `Authorization` headers and their signatures, `X-Amz-Security-Token`,
Basic and Bearer credentials, `aws:<token>@` in URLs, CodeArtifact tokens in response bodies,
and every value registered with `register_secret` (the source's credentials, once read).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable

__all__ = ["LOG_FORMATS", "Redactor", "register_secret", "setup_logging"]

_NOISY = ("httpx", "httpcore", "botocore", "boto3", "urllib3", "uvicorn.access")
LOG_FORMATS = ("text", "json")

_PATTERNS = [
    # botocore prints headers as a dict: {'Authorization': b'AWS4-HMAC-SHA256 Credential=...'}
    (re.compile(r"""(['"]?(?:Authorization|X-Amz-Security-Token|X-Amz-Signature|"""
                r"""Proxy-Authorization)['"]?\s*[:=]\s*b?['"])[^'"]*(['"])""", re.I),
     r"\1<redacted>\2"),
    # a plain header line: the whole value, to the end of the line
    (re.compile(r"((?:Authorization|X-Amz-Security-Token|Proxy-Authorization)\s*:\s*)"
                r"[^\n'\"]+", re.I), r"\1<redacted>"),
    # a presigned URL's query parameters
    (re.compile(r"((?:X-Amz-Security-Token|X-Amz-Signature|X-Amz-Credential)=)[^\s&'\"]+",
                re.I), r"\1<redacted>"),
    (re.compile(r"(Signature=)[0-9a-f]{16,}", re.I), r"\1<redacted>"),
    (re.compile(r"\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 <redacted>"),
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), r"\1<redacted>@"),
    (re.compile(r"""(["']?(?:authorizationToken|aws_secret_access_key|aws_session_token|"""
                r"""SecretAccessKey|SessionToken)["']?\s*[:=]\s*["']?)[^"',}\s]+""", re.I),
     r"\1<redacted>"),
]
_secrets: set[str] = set()


def register_secret(*values: str | None) -> None:
    """Never print these values (credentials read from the environment)."""
    for value in values:
        if value and len(value) >= 4:
            _secrets.add(value)


def redact_text(text: str, extra: Iterable[str] = ()) -> str:
    for secret in sorted({*_secrets, *extra}, key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class Redactor(logging.Filter):
    """Rewrites every record's message (and exception text) without secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log aggregators."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                       + f".{int(record.msecs):03d}Z",
               "level": record.levelname.lower(), "logger": record.name,
               "message": record.getMessage()}
        if record.exc_text:
            doc["exception"] = record.exc_text
        return json.dumps(doc, ensure_ascii=False)


def setup_logging(*, verbose: bool = False, quiet: bool = False,
                  log_format: str = "text") -> None:
    """Configure the root logger for a CLI run.

    httpx logs every request at INFO, which would drown progress bars and can print
    URLs; those libraries stay at WARNING unless --verbose.
    """
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(Redactor())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
