"""A `Target` for registries that speak the same wire protocols as CodeArtifact but have no
`ListPackageVersionAssets`: Verdaccio (npm), devpi (PyPI), a WebDAV Maven repository (nginx).

The publishers use them unchanged; only the "what does the target hold" look-up differs:
npm reads the registry's packument (`dist.integrity` sha512, `dist.shasum` sha1), PyPI its
simple page (PEP 691 JSON when offered, else the `#sha256=` fragments of the HTML), Maven
downloads the files and hashes them. Used to test the publishers against real servers.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

from migrator.models import HASH_ALGORITHMS, ClaimedVersion, Format
from migrator.target.base import NPM_ASSET
from migrator.target.errors import NotFound
from migrator.target.http import Auth, NativeHttp, StaticAuth

__all__ = ["RegistryTarget"]

_LINK = re.compile(r"""<a\s[^>]*href=["']([^"']+)["'][^>]*>([^<]+)</a>""", re.IGNORECASE)


class RegistryTarget:
    """Native endpoints of a non-CodeArtifact registry.

    :param endpoints: format → base URL ending in `/` (npm registry root, PyPI upload URL,
        Maven repository root); the repository name is ignored.
    :param simple_url: PyPI simple index root (`.../+simple/` on devpi).
    """

    is_codeartifact = False

    def __init__(self, name: str, endpoints: Mapping[Format | str, str], *,
                 auth: Auth | None = None, simple_url: str | None = None, sleep=None,
                 transport=None) -> None:
        self.name = name
        self.endpoints = {str(k): (v if v.endswith("/") else v + "/")
                          for k, v in endpoints.items()}
        self.simple_url = simple_url
        self.http = NativeHttp(auth or StaticAuth(), target_name=name, sleep=sleep,
                               transport=transport)

    async def __aenter__(self) -> RegistryTarget:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def endpoint(self, repository: str, fmt: Format | str) -> str:
        return self.endpoints[str(fmt)]

    async def complete_version(self, version: ClaimedVersion, target_version: str) -> str | None:
        return "Published"  # no Unfinished state outside CodeArtifact

    async def asset_hashes(self, version: ClaimedVersion, target_version: str
                           ) -> dict[str, dict[str, Any]] | None:
        fmt = version.format
        if fmt is Format.NPM:
            return await self._npm(version, target_version)
        if fmt is Format.PYPI:
            return await self._pypi(version, target_version)
        return await self._download(version)

    async def _npm(self, version: ClaimedVersion, target_version: str):
        from migrator.target.npm import escaped_name, full_name

        url = self.endpoints[str(Format.NPM)] + escaped_name(full_name(version))
        try:
            doc = (await self.http.request("GET", url, scheme="bearer")).json()
        except NotFound:
            return None
        dist = ((doc.get("versions") or {}).get(target_version) or {}).get("dist")
        if not dist:
            return None
        hashes: dict[str, Any] = {}
        if dist.get("shasum"):
            hashes["sha1"] = dist["shasum"].lower()
        for sri in str(dist.get("integrity") or "").split():
            algo, _, b64 = sri.partition("-")
            if algo in ("sha512", "sha256", "sha1"):
                hashes[algo] = base64.b64decode(b64).hex()
        return {NPM_ASSET: hashes}

    async def _pypi(self, version: ClaimedVersion, target_version: str):
        if not self.simple_url:
            raise ValueError(f"{self.name}: simple_url is needed to look PyPI files up")
        page = urljoin(self.simple_url, f"{version.package}/")
        try:
            response = await self.http.request(
                "GET", page, headers={"Accept": "application/vnd.pypi.simple.v1+json, "
                                                "text/html;q=0.1"})
        except NotFound:
            return None
        out: dict[str, dict[str, Any]] = {}
        if "json" in response.headers.get("content-type", ""):
            for f in response.json().get("files", []):
                out[f["filename"]] = {k: v.lower() for k, v in (f.get("hashes") or {}).items()
                                      if k in HASH_ALGORITHMS}
        else:
            for href, text in _LINK.findall(response.text):
                _, _, fragment = href.partition("#")
                algo, _, value = fragment.partition("=")
                out[text.strip()] = {algo: value.lower()} if algo in HASH_ALGORITHMS else {}
        return out or None

    async def _download(self, version: ClaimedVersion):
        base = self.endpoints[str(version.format)]
        out: dict[str, dict[str, Any]] = {}
        for asset in version.assets:
            try:
                response = await self.http.request("GET", base + asset.path)
            except NotFound:
                continue
            data = response.content
            out[asset.filename] = {"size": len(data),
                                   **{a: hashlib.new(a, data).hexdigest()
                                      for a in HASH_ALGORITHMS}}
        return out or None
