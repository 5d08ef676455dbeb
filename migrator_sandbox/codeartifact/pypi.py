"""The native PyPI endpoint (reference §4): twine's multipart upload and `/simple/<project>/`.

Names are PEP 503-normalised for storage and the API; the original spelling is kept as the
version's displayName. Each file is one asset; the same filename with other bytes is 409.
A `gpg_signature` file part (twine) is kept as the asset `<file>.asc` (switch
`pypi_gpg_signature`: `asset` or `dropped`); the simple page marks such a file
`data-gpg-sig="true"` (PEP 503) instead of listing the signature as a file of its own.
There is no `/simple/` root listing, no JSON API and no XML-RPC, as on CodeArtifact.
"""

from __future__ import annotations

import hashlib
from html import escape

from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from .errors import Conflict, NativeError
from .publish import add_asset, check_publish, same_bytes_again
from .store import DOWNLOADABLE, Repository, hashes_off_loop, pep503


async def read_upload(request: Request) -> tuple[dict[str, list[str]], dict]:
    """twine's multipart/form-data body → (text fields, {field: (filename, bytes)}).

    Parsed by starlette with python-multipart as the body arrives, a chunk at a time: the
    event loop goes on admitting other requests meanwhile, as a real front end would. (The
    stdlib email parser took a fifth of a second over a 6 MB upload and held the GIL for
    tens of milliseconds at a time, which stamped the requests waiting meanwhile together:
    a burst in the quota's one-second window that no client sent.)
    """
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise NativeError(400, "Expected multipart/form-data")
    try:
        form = await request.form(max_files=16, max_fields=1000, max_part_size=16 << 20)
    except MultiPartException as exc:
        raise NativeError(400, f"Malformed multipart body: {exc.message}") from None
    fields: dict[str, list[str]] = {}
    files: dict[str, tuple[str, bytes]] = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, str):
                fields.setdefault(name, []).append(value)
            else:
                files[name] = (value.filename or "", await value.read())
    finally:
        await form.close()
    return fields, files


async def handle(em, request: Request, repo: Repository, rest: str) -> Response:
    state = request.scope.setdefault("state", {})
    state["repository"] = repo.name
    parts = [p for p in rest.split("/") if p]
    if not parts and request.method == "POST":
        state["operation"] = "pypi:Upload"
        return await upload(em, request, repo, state)
    if len(parts) == 2 and parts[0] == "simple" and request.method in ("GET", "HEAD"):
        state["operation"] = "pypi:SimplePage"
        return await simple_page(em, request, repo, parts[1])
    if len(parts) == 4 and parts[0] == "files" and request.method in ("GET", "HEAD"):
        state["operation"] = "pypi:GetFile"
        _, project, version, filename = parts
        state["asset"] = f"{repo.domain}/{repo.name}/pypi//{project}/{version}/{filename}"
        v = await em.upstream.resolve(repo, "pypi", "", project, version, filename)
        asset = v.assets.get(filename) if v and v.status in DOWNLOADABLE else None
        if asset is None:
            raise NativeError(404, "Not Found")
        data = b"" if request.method == "HEAD" else em.store.read_asset(asset)
        return Response(data, 200, headers={"Content-Type": "application/octet-stream",
                                            "Content-Length": str(asset.size)})
    raise NativeError(404, "Not Found")


async def upload(em, request: Request, repo: Repository, state: dict) -> Response:
    fields, files = await read_upload(request)

    def field(name: str) -> str:
        return (fields.get(name) or [""])[-1]

    if field(":action") != "file_upload":
        raise NativeError(400, "Unsupported :action")
    name, version = field("name"), field("version")
    if not name or not version or "content" not in files:
        raise NativeError(400, "name, version and content are required")
    filename, data = files["content"]
    project = pep503(name)
    state["asset"] = f"{repo.domain}/{repo.name}/pypi//{project}/{version}/{filename}"
    if em.store.behaviour.pypi_strict_digests:
        for fname, algo in (("md5_digest", "md5"), ("sha256_digest", "sha256"),
                            ("blake2_256_digest", "blake2b")):
            want = field(fname)
            if not want:
                continue
            h = hashlib.blake2b(data, digest_size=32) if algo == "blake2b" else \
                hashlib.new(algo, data)
            if want.lower() != h.hexdigest():
                raise NativeError(400, f"{fname} does not match the uploaded file")
    hashes = await hashes_off_loop(data)  # before the checks: no wait between them and the write
    pkg = await check_publish(em.store, em.upstream, repo, "pypi", "", name, version)
    if em.store.behaviour.pypi_republish_status == 409 and \
            same_bytes_again(pkg, version, filename, data):
        raise NativeError(409, f"{filename} already exists")
    try:
        v, _ = add_asset(em.store, repo, pkg, version, filename, data, new_status="Published",
                         display_name=name, hashes=hashes)
    except Conflict as exc:
        raise NativeError(409, exc.message) from None
    if "gpg_signature" in files and em.store.behaviour.pypi_gpg_signature == "asset":
        sig_name, sig_data = files["gpg_signature"]
        try:
            add_asset(em.store, repo, pkg, version, sig_name or f"{filename}.asc", sig_data,
                      new_status="Published", display_name=name)
        except Conflict as exc:
            raise NativeError(409, exc.message) from None
    v.metadata.update({
        "summary": field("summary"), "homePage": field("home_page"),
        "licenses": [field("license")] if field("license") else [],
        "readme": field("description"),
        "requires_python": field("requires_python"),
        "dependencies": {"regular": {req.split(";")[0].strip(): req
                                     for req in fields.get("requires_dist", [])}},
    })
    return Response("OK\n", 200)


async def simple_page(em, request: Request, repo: Repository, project: str) -> Response:
    normalized = pep503(project)
    if project != normalized:
        return Response(status_code=301, headers={
            "Location": str(request.url).replace(f"/simple/{project}", f"/simple/{normalized}")})
    listed = await em.upstream.listed_versions(repo, "pypi", "", normalized)
    links = []
    for ver, item in listed.items():
        v = item["version"]
        if v is not None:
            for a in v.assets.values():
                if a.name.endswith(".asc") and a.name[:-4] in v.assets:
                    continue  # a signature: announced on its file's link
                rp = v.metadata.get("requires_python")
                attr = f' data-requires-python="{escape(rp)}"' if rp else ""
                if f"{a.name}.asc" in v.assets:
                    attr += ' data-gpg-sig="true"'
                links.append((a.name, f"../../files/{normalized}/{ver}/{a.name}"
                                      f"#sha256={a.hashes['SHA-256']}", attr))
        else:
            for filename in (item["external"].get("files") or {}):
                links.append((filename, f"../../files/{normalized}/{ver}/{filename}", ""))
    if not links:
        raise NativeError(404, "Not Found")
    body = "".join(f'    <a href="{escape(href)}"{attr}>{escape(fn)}</a><br/>\n'
                   for fn, href, attr in sorted(links))
    html = (f"<!DOCTYPE html>\n<html>\n  <head><title>Links for {normalized}</title></head>\n"
            f"  <body>\n    <h1>Links for {normalized}</h1>\n{body}  </body>\n</html>\n")
    return HTMLResponse(html)
