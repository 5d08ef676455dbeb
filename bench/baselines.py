"""What operators use today, against the same sandbox: the two baselines of bench/mixed.py.

- `sequential_copy`: a sequential single-connection copier, like the existing Artifactory /
  Nexus → CodeArtifact scripts: list the source repository, then for each file one download
  and one upload, one request at a time over one keep-alive connection (Maven: each file
  PUT, then the artifact's `maven-metadata.xml`; npm: one publish document per version;
  PyPI: one `file_upload` POST per file; generic: PublishPackageVersion per file). It does not
  verify anything afterwards, which only flatters it.
- `client_loop`: the per-file client loop of the Sonatype import scripts and most migration
  write-ups: download the file, then run the ecosystem's own client on it (`mvn
  deploy:deploy-file`, `npm publish`, `twine upload`), one process per file. Generic files
  have no such client (the AWS CLI is one boto3 call per file): left out of this baseline.

Both take the first `versions` versions of each format and report seconds per file, so the
benchmark extrapolates them per file to the whole corpus (and says so).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import tarfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import boto3
import httpx

FORMAT_OF_REPO = {"maven-releases": "maven", "npm-internal": "npm", "pypi-internal": "pypi",
                  "raw-files": "generic"}


def _groups(nexus: httpx.Client, repo: str) -> list[tuple[str, list[dict]]]:
    """(version folder, its assets) in listing order, from the assets REST API."""
    token = None
    groups: dict[str, list[dict]] = defaultdict(list)
    while True:
        params = {"repository": repo, **({"continuationToken": token} if token else {})}
        page = nexus.get("/service/rest/v1/assets", params=params).raise_for_status().json()
        for item in page["items"]:
            path = item["path"].lstrip("/")
            if path.endswith(("maven-metadata.xml", ".sha1", ".md5", ".sha256", ".sha512")):
                continue
            folder = path.rsplit("/", 1)[0]
            if repo == "npm-internal":  # one version per tarball
                folder = path
            groups[folder].append(item)
        token = page.get("continuationToken")
        if not token:
            return list(groups.items())


def _endpoint(ca: Any, domain: str, owner: str, repo: str, fmt: str) -> str:
    url = ca.get_repository_endpoint(domain=domain, domainOwner=owner, repository=repo,
                                     format=fmt)["repositoryEndpoint"]
    return url if url.endswith("/") else url + "/"


class _Target:
    def __init__(self, info: dict) -> None:
        c = info["codeartifact"]
        self.domain, self.owner = c["domain"], c["domain_owner"]
        self.ca = boto3.client("codeartifact", endpoint_url=c["endpoint_url"],
                               region_name=c["region"])
        self.token = self.ca.get_authorization_token(
            domain=self.domain, domainOwner=self.owner)["authorizationToken"]
        self.endpoints = {repo: _endpoint(self.ca, self.domain, self.owner, repo,
                                          fmt if fmt != "generic" else "generic")
                          for repo, fmt in FORMAT_OF_REPO.items() if fmt != "generic"}


def _nexus(info: dict, env: dict) -> httpx.Client:
    return httpx.Client(base_url=info["nexus"]["url"], timeout=120,
                        auth=(env["NEXUS_USERNAME"], env["NEXUS_PASSWORD"]))


def _npm_manifest(tgz: bytes) -> dict:
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tf:
        member = tf.extractfile("package/package.json")
        assert member is not None
        return json.loads(member.read())


def _pypi_fields(filename: str, data: bytes) -> dict[str, str]:
    stem = filename.removesuffix(".tar.gz").removesuffix(".whl")
    name, version = stem.split("-")[:2]
    return {":action": "file_upload", "protocol_version": "1", "name": name.replace("_", "-"),
            "version": version, "metadata_version": "2.1",
            "filetype": "bdist_wheel" if filename.endswith(".whl") else "sdist",
            "pyversion": "py3" if filename.endswith(".whl") else "source",
            "sha256_digest": hashlib.sha256(data).hexdigest(),
            "md5_digest": hashlib.md5(data).hexdigest()}


def sequential_copy(info: dict, env: dict, versions: int) -> dict:
    """Copy the first `versions` versions of each format, one request at a time."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    t0 = time.monotonic()
    target = _Target(info)
    files = 0
    auth = ("aws", target.token)
    with _nexus(info, env) as nexus, httpx.Client(timeout=120, auth=auth) as ca_http:
        for repo, fmt in FORMAT_OF_REPO.items():
            seen: dict[str, list[str]] = defaultdict(list)
            for folder, items in _groups(nexus, repo)[:versions]:
                for item in items:
                    data = nexus.get(item["downloadUrl"]).raise_for_status().content
                    name = item["path"].rsplit("/", 1)[-1]
                    files += 1
                    if fmt == "maven":
                        ca_http.put(target.endpoints[repo] + item["path"].lstrip("/"),
                                    content=data).raise_for_status()
                    elif fmt == "npm":
                        manifest = _npm_manifest(data)
                        pkg, ver = manifest["name"], manifest["version"]
                        bare = pkg.split("/")[-1]
                        doc = {"_id": pkg, "name": pkg, "dist-tags": {"latest": ver},
                               "versions": {ver: {**manifest, "_id": f"{pkg}@{ver}", "dist": {
                                   "shasum": hashlib.sha1(data).hexdigest(),
                                   "integrity": "sha512-" + base64.b64encode(
                                       hashlib.sha512(data).digest()).decode(),
                                   "tarball": f"{target.endpoints[repo]}{pkg}/-/"
                                              f"{bare}-{ver}.tgz"}}},
                               "_attachments": {f"{bare}-{ver}.tgz": {
                                   "content_type": "application/octet-stream",
                                   "data": base64.b64encode(data).decode(),
                                   "length": len(data)}}}
                        ca_http.put(target.endpoints[repo] + pkg.replace("/", "%2f"),
                                    json=doc, headers={"Authorization":
                                                       f"Bearer {target.token}"}
                                    ).raise_for_status()
                    elif fmt == "pypi":
                        ca_http.post(target.endpoints[repo], data=_pypi_fields(name, data),
                                     files={"content": (name, data)}).raise_for_status()
                    else:
                        package, version = folder.split("/")[-2:]
                        target.ca.publish_package_version(
                            domain=target.domain, domainOwner=target.owner, repository=repo,
                            format="generic", namespace=repo, package=package,
                            packageVersion=version, assetName=name, assetContent=data,
                            assetSHA256=hashlib.sha256(data).hexdigest(),
                            unfinished=item is not items[-1])
                if fmt == "maven":
                    artifact_folder, version = folder.rsplit("/", 1)
                    seen[artifact_folder].append(version)
                    group, artifact = artifact_folder.rsplit("/", 1)
                    listed = "".join(f"<version>{v}</version>" for v in seen[artifact_folder])
                    meta = (f"<metadata><groupId>{group.replace('/', '.')}</groupId>"
                            f"<artifactId>{artifact}</artifactId><versioning><release>"
                            f"{version}</release><versions>{listed}</versions></versioning>"
                            "</metadata>").encode()
                    ca_http.put(f"{target.endpoints[repo]}{artifact_folder}/maven-metadata.xml",
                                content=meta).raise_for_status()
    seconds = time.monotonic() - t0
    return {"files": files, "seconds": seconds, "per_file": seconds / max(1, files)}


_SETTINGS = """<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <localRepository>{local}</localRepository>
  <mirrors><mirror><id>debian-system-repo</id><mirrorOf>central</mirrorOf>
    <url>file:///usr/share/maven-repo</url></mirror></mirrors>
  <servers><server><id>ca</id><username>aws</username><password>{token}</password></server>
  </servers>
</settings>
"""


def _run(cmd: list[str], **kwargs: Any) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stdout[-1500:]}\n"
                         f"{proc.stderr[-1500:]}")


def client_loop(info: dict, env: dict, versions: int, work: Path, twine: str) -> dict:
    """The first `versions` versions of Maven, npm and PyPI: download, then the client."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    target = _Target(info)
    settings = work / "settings.xml"
    settings.write_text(_SETTINGS.format(local=work / "m2", token=target.token))
    npm_url = target.endpoints["npm-internal"]
    npmrc = work / ".npmrc"
    npmrc.write_text(f"registry={npm_url}\n//{npm_url.split('://', 1)[1]}:_authToken="
                     f"{target.token}\n")
    files = 0
    with _nexus(info, env) as nexus:
        for repo, fmt in FORMAT_OF_REPO.items():
            if fmt == "generic":
                continue
            for _folder, items in _groups(nexus, repo)[:versions]:
                local: dict[str, Path] = {}
                for item in items:
                    name = item["path"].rsplit("/", 1)[-1]
                    path = work / "dl" / name
                    path.parent.mkdir(exist_ok=True)
                    path.write_bytes(nexus.get(item["downloadUrl"]).raise_for_status().content)
                    local[name] = path
                for name, path in local.items():
                    files += 1
                    if fmt == "maven":
                        coords = item["path"].lstrip("/").split("/")
                        group, artifact, version = ".".join(coords[:-3]), coords[-3], coords[-2]
                        extra = (["-Dpackaging=pom"] if name.endswith(".pom") else
                                 [f"-Dclassifier={name.rsplit('-', 1)[-1][:-4]}",
                                  "-DgeneratePom=false", "-Dpackaging=jar"]
                                 if name.endswith("-sources.jar") else
                                 ["-Dpackaging=jar", "-DgeneratePom=false"])
                        _run(["mvn", "-B", "-q", "-s", str(settings),
                              "org.apache.maven.plugins:maven-deploy-plugin:3.0.0:deploy-file",
                              f"-Dfile={path}", f"-DgroupId={group}", f"-DartifactId={artifact}",
                              f"-Dversion={version}", *extra,
                              f"-Durl={target.endpoints[repo]}", "-DrepositoryId=ca"])
                    elif fmt == "npm":
                        _run(["npm", "publish", str(path), "--registry", npm_url,
                              "--userconfig", str(npmrc), "--cache", str(work / "npm-cache"),
                              "--no-audit", "--no-fund"])
                    else:
                        _run([twine, "upload", "--non-interactive", "--disable-progress-bar",
                              "--repository-url", target.endpoints[repo], "-u", "aws",
                              f"--password={target.token}", str(path)])
    seconds = time.monotonic() - t0
    return {"files": files, "seconds": seconds, "per_file": seconds / max(1, files)}
