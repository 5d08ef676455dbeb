"""PyPI: twine's multipart upload, one POST per file, metadata read from the file itself.

Reference §4: `POST <endpoint>` with `:action=file_upload`, `protocol_version=1`, the core
metadata fields under twine's names (the wheel's METADATA or the sdist's PKG-INFO, read with
bounded reads by `formats.pypi.read_core_metadata` and parsed by `pkginfo`), the digests, and
the file as `content`. The file name is uploaded unchanged; API calls use the PEP 503 name
(the claimed version's `package`).

A detached signature `<file>.asc` goes with its file, as twine sends it: a `gpg_signature`
file part (name and bytes) of the same POST (`twine/package.py`, `add_gpg_signature`). Whether
CodeArtifact keeps it as an asset is undocumented: after such an upload the version's assets
are read once, and a signature the target accepted but does not list is reported as a
conflict naming that (never silently counted as migrated). A signature whose file is already
in the target is settled by the target's hashes; it cannot be uploaded on its own.
"""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pkginfo

from migrator.formats.pypi import identity_conflict, parse_filename, read_core_metadata
from migrator.models import AssetOutcome, AssetResult, ClaimedVersion, Format, Report, SpooledFile
from migrator.target.base import judge, repository_of, resolve_existing
from migrator.target.errors import AlreadyExists, PublishError

__all__ = ["PyPIPublisher", "upload_fields"]

# twine's `PackageFile.metadata_dictionary` names → pkginfo attributes.
_FIELDS = {
    "metadata_version": "metadata_version", "name": "name", "version": "version",
    "summary": "summary", "home_page": "home_page", "author": "author",
    "author_email": "author_email", "maintainer": "maintainer",
    "maintainer_email": "maintainer_email", "license": "license",
    "description": "description", "description_content_type": "description_content_type",
    "keywords": "keywords", "platform": "platforms", "classifiers": "classifiers",
    "download_url": "download_url", "supported_platform": "supported_platforms",
    "provides": "provides", "requires": "requires", "obsoletes": "obsoletes",
    "project_urls": "project_urls", "provides_dist": "provides_dist",
    "obsoletes_dist": "obsoletes_dist", "requires_dist": "requires_dist",
    "requires_external": "requires_external", "requires_python": "requires_python",
    "provides_extras": "provides_extras", "dynamic": "dynamic",
}


class _CoreMetadata(pkginfo.Distribution):
    """pkginfo's parsing of METADATA / PKG-INFO bytes we read ourselves: its own archive
    readers read members whole (a zip or tar bomb fills the memory)."""

    def __init__(self, path: Path, filename: str) -> None:
        self.path, self.filename = path, filename
        self.extractMetadata()

    def read(self) -> bytes:
        return read_core_metadata(self.path, self.filename)


def _distribution(path: Path, filename: str):
    return _CoreMetadata(path, filename)


def upload_fields(path: Path, filename: str, hashes: dict[str, str],
                  listed: tuple[str, str] | None = None) -> list[tuple[str, str]]:
    """The form fields twine sends for one distribution file (repeated fields repeated).

    `listed`: the (package, version) the plan recorded; the file's metadata must say the same
    as that and its file name (`formats.pypi.identity_conflict`), or it is refused."""
    parsed = parse_filename(filename)
    if parsed is None:
        raise PublishError(f"{filename} is not a wheel, sdist or egg file name",
                           retryable=False)
    _name, _version, filetype, pyversion = parsed
    try:
        dist = _distribution(path, filename)
    except (ValueError, OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        # What the file is, not a passing failure: the same bytes fail the same way again.
        raise PublishError(f"cannot read the metadata of {filename}: {exc}",
                           retryable=False) from None
    if not getattr(dist, "name", None) or not getattr(dist, "version", None):
        raise PublishError(f"{filename} carries no Name/Version metadata", retryable=False)
    package, version = listed or (_name, _version)
    conflict = identity_conflict(filename, package, version, dist.name, dist.version)
    if conflict is not None:
        raise PublishError(conflict, retryable=False)
    fields: list[tuple[str, str]] = [(":action", "file_upload"), ("protocol_version", "1"),
                                     ("filetype", filetype), ("pyversion", pyversion)]
    for form_name, attr in _FIELDS.items():
        value: Any = getattr(dist, attr, None)
        if value in (None, "", (), []):
            continue
        if isinstance(value, list | tuple):
            fields += [(form_name, str(v)) for v in value]
        else:
            fields.append((form_name, str(value)))
    fields.append(("md5_digest", hashes.get("md5") or _digest(path, "md5")))
    fields.append(("sha256_digest", hashes.get("sha256") or _digest(path, "sha256")))
    fields.append(("blake2_256_digest", _digest(path, "blake2_256")))
    return fields


def _digest(path: Path, algo: str) -> str:
    h = hashlib.blake2b(digest_size=32) if algo == "blake2_256" else hashlib.new(algo)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class PyPIPublisher:
    """Publishes PyPI files through the native endpoint (twine's upload API)."""

    format = Format.PYPI

    def __init__(self, target, *, check_first: bool = True,
                 upload_url: str | None = None) -> None:
        self.target = target
        # One ListPackageVersionAssets per version first: identical re-uploads answer 200 on
        # CodeArtifact and devpi, so this is how a re-run reports IDENTICAL without writing.
        self.check_first = check_first
        self.upload_url = upload_url

    async def publish(self, version: ClaimedVersion, files: Sequence[SpooledFile],
                      report: Report) -> None:
        repo = repository_of(version)
        if not files:
            return  # every file was uploaded earlier; PyPI versions need no finishing step
        url = self.upload_url or await self.target.endpoint(repo, Format.PYPI)
        known = await self.target.asset_hashes(version, version.version) \
            if self.check_first else None
        signatures = {f.asset.extra.get("signature_of"): f for f in files
                      if f.asset.extra.get("signature_of")}
        for spooled in sorted(files, key=lambda f: f.asset.filename):
            filename = spooled.asset.filename
            if spooled.asset.extra.get("signature_of"):
                if spooled.asset.extra["signature_of"] not in {f.asset.filename for f in files}:
                    await report(await self._lone_signature(version, spooled, known))
                continue
            signature = signatures.get(filename)
            if known and filename in known and (signature is None or
                                                signature.asset.filename in known):
                await report(judge(self.target.name, version, spooled, filename,
                                   version.version, known[filename], "found before upload"))
                if signature is not None:
                    name = signature.asset.filename
                    await report(judge(self.target.name, version, signature, name,
                                       version.version, known[name], "found before upload"))
                continue
            # In a thread: a tar sdist's PKG-INFO may sit behind up to 1 GiB of inflated
            # members, seconds the event loop (other workers, leases) must not wait.
            fields = await anyio.to_thread.run_sync(
                upload_fields, spooled.path, filename, dict(spooled.hashes),
                (version.package, version.version))

            def files_part(spooled: SpooledFile = spooled, filename: str = filename,
                           signature: SpooledFile | None = signature):
                parts = {"content": (filename, spooled.path.open("rb"),
                                     "application/octet-stream")}
                if signature is not None:
                    parts["gpg_signature"] = (signature.asset.filename,
                                              signature.path.open("rb"),
                                              "application/octet-stream")
                return parts

            try:
                await self.target.http.request("POST", url, data=_form(fields),
                                               files=files_part)
            except AlreadyExists as exc:
                await report(await resolve_existing(self.target, version, spooled, filename,
                                                    version.version, exc.message))
                if signature is not None:
                    await report(await resolve_existing(
                        self.target, version, signature, signature.asset.filename,
                        version.version, exc.message))
                continue
            if known and filename in known:  # re-sent only to carry its signature
                await report(judge(self.target.name, version, spooled, filename,
                                   version.version, known[filename], "found before upload"))
            else:
                await report(AssetResult(spooled.asset.id, AssetOutcome.PUBLISHED))
            if signature is not None:
                await report(await self._sent_signature(version, spooled, signature))

    async def _sent_signature(self, version: ClaimedVersion, dist: SpooledFile,
                              signature: SpooledFile) -> AssetResult:
        """After an upload with `gpg_signature`: PUBLISHED, unless the target lists the
        file and not its signature (it dropped it)."""
        if not self.target.is_codeartifact:
            return AssetResult(signature.asset.id, AssetOutcome.PUBLISHED)
        found = await self.target.asset_hashes(version, version.version) or {}
        name = signature.asset.filename
        if dist.asset.filename in found and name not in found:
            return AssetResult(signature.asset.id, AssetOutcome.CONFLICT, reason=(
                f"{self.target.name} accepted {dist.asset.filename} with its gpg_signature "
                f"but does not list {name}: the target does not keep detached signatures"))
        return AssetResult(signature.asset.id, AssetOutcome.PUBLISHED)

    async def _lone_signature(self, version: ClaimedVersion, signature: SpooledFile,
                              known: dict | None) -> AssetResult:
        name = signature.asset.filename
        if known is None and self.check_first is False:
            known = await self.target.asset_hashes(version, version.version)
        if known and name in known:
            return judge(self.target.name, version, signature, name, version.version,
                         known[name], "found before upload")
        raise PublishError(
            f"{name}: a detached signature can only be uploaded with its file "
            f"({signature.asset.extra['signature_of']}, sent as twine's gpg_signature), and "
            f"that file is already in {self.target.name} without it", retryable=False)


def _form(fields: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    """httpx `data=`: repeated names become lists, in order."""
    out: dict[str, str | list[str]] = {}
    for key, value in fields:
        if key in out:
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out
