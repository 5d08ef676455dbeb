"""The completeness certificate's format: JSON Lines, one line per migrated asset, then a
final line holding how many lines precede it and the SHA-256 of their bytes.

Canonical bytes: each line exactly as written in the file, UTF-8, with its terminating "\\n";
the digest is SHA-256 over the concatenation of every line before the final one. The writer
(`migrator.reports`) emits each entry as compact JSON with sorted keys; a reader only
recomputes the digest over the bytes it finds, so any edit of an entry line, a line removed or
added, or a final line that does not match, makes the certificate invalid.

An entry: `repository` (source), `target_repository`, `format`, `namespace`, `package`,
`version`, `path` (in the source repository), `filename`, `kind`, `size`, `status`
(verified | skipped_identical | ingested), `origin` (INTERNAL for copied, EXTERNAL for
pre-warmed), `source_hashes`, `downloaded_hashes`, `target_hashes` (CodeArtifact's, each
{algorithm: hex}), and `extra` / `version_extra` (format details a re-check needs, e.g. a
generic asset name). The final line: {"certificate": "migrator-completeness/1", "count": N,
"sha256": "<hex>", "generated_at": "<ISO 8601 UTC>"}.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from migrator.errors import CertificateInvalid

__all__ = ["FORMAT", "Certificate", "encode_line", "read_certificate", "write_certificate"]

FORMAT = "migrator-completeness/1"
#: Keys every entry line has.
ENTRY_KEYS = frozenset({"repository", "target_repository", "format", "namespace", "package",
                        "version", "path", "filename", "kind", "size", "status", "origin",
                        "source_hashes", "downloaded_hashes", "target_hashes", "extra",
                        "version_extra"})


def encode_line(obj: Mapping[str, Any]) -> bytes:
    """One line as the writer emits it: compact JSON, sorted keys, ASCII, "\\n"."""
    return (json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
            + "\n").encode("ascii")


def write_certificate(out: BinaryIO, entries: Iterable[Mapping[str, Any]], *,
                      generated_at: str) -> int:
    """Write every entry, then the final line; returns the number of entries."""
    digest = hashlib.sha256()
    count = 0
    for entry in entries:
        line = encode_line(entry)
        digest.update(line)
        out.write(line)
        count += 1
    out.write(encode_line({"certificate": FORMAT, "count": count,
                           "sha256": digest.hexdigest(), "generated_at": generated_at}))
    return count


class Certificate:
    """A certificate read back and checked: its entries and its final line."""

    def __init__(self, entries: list[dict[str, Any]], final: dict[str, Any]) -> None:
        self.entries = entries
        self.final = final


def read_certificate(path: str | Path) -> Certificate:
    """Read and check a certificate: every line JSON, a final line of this format whose count
    and SHA-256 match the lines before it.

    :raises CertificateInvalid: (exit 2) unreadable, edited, cut short or not a certificate.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise CertificateInvalid(f"{p}: cannot read the certificate: {exc.strerror}") from None
    hint = "regenerate it with `migrator report MANIFEST --format certificate`"
    if not raw.endswith(b"\n"):
        raise CertificateInvalid(f"{p}: not a complete certificate (no final newline)",
                                 hint=hint)
    lines = raw.splitlines(keepends=True)
    try:
        final = json.loads(lines[-1])
    except ValueError:
        final = None
    if not isinstance(final, dict) or final.get("certificate") != FORMAT:
        raise CertificateInvalid(f"{p}: the last line is not a {FORMAT} final line", hint=hint)
    body = lines[:-1]
    digest = hashlib.sha256(b"".join(body)).hexdigest()
    if final.get("count") != len(body):
        raise CertificateInvalid(f"{p}: the final line counts {final.get('count')} assets, "
                                 f"the file holds {len(body)}", hint=hint)
    if final.get("sha256") != digest:
        raise CertificateInvalid(f"{p}: the SHA-256 of the lines ({digest}) differs from the "
                                 f"final line's ({final.get('sha256')}): the file was edited",
                                 hint=hint)
    entries: list[dict[str, Any]] = []
    for n, line in enumerate(body, 1):
        try:
            entry = json.loads(line)
        except ValueError:
            raise CertificateInvalid(f"{p}:{n}: not JSON", hint=hint) from None
        if not isinstance(entry, dict) or not entry.keys() >= ENTRY_KEYS:
            raise CertificateInvalid(f"{p}:{n}: not a certificate entry", hint=hint)
        entries.append(entry)
    return Certificate(entries, final)
