"""Write the cut-over kit: per target repository and format, the files a team's build needs.

Which repositories: the state's (target repository, format), for copy and pre-warm mappings;
the npm scopes: the namespaces of the npm versions in the target (`Queries.npm_scopes`).
Where: `GetRepositoryEndpoint` (`CodeArtifactClient.endpoint`), used as CodeArtifact returns
it; only the documented suffix of pip's index (`simple/`) is appended. The token is always a
reference to the `CODEARTIFACT_AUTH_TOKEN` environment variable, never its value.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio

from migrator.cutover.iam import consumer_policy, migrator_policy
from migrator.manifest import Manifest
from migrator.state import WorkQueue
from migrator.target.codeartifact import CodeArtifactClient

__all__ = ["TOKEN_ENV", "KitRepository", "KitResult", "write_kit"]

TOKEN_ENV = "CODEARTIFACT_AUTH_TOKEN"
_CLIENT_FORMATS = ("maven", "npm", "pypi")
_SETTINGS_NS = "http://maven.apache.org/SETTINGS/1.0.0"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"


@dataclass(frozen=True)
class KitRepository:
    """One target repository in the kit."""

    name: str
    format: str
    endpoint: str | None  # None: a format without client configuration (generic)
    scopes: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()


@dataclass
class KitResult:
    out: Path
    repositories: list[KitRepository]
    files: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"out": str(self.out),
                "repositories": [{"name": r.name, "format": r.format, "endpoint": r.endpoint,
                                  "scopes": list(r.scopes)} for r in self.repositories],
                "files": [str(f.relative_to(self.out)) for f in self.files]}

    def render(self) -> str:
        lines = [f"cut-over kit in {self.out}: {len(self.files)} files"]
        lines += [f"  {f.relative_to(self.out)}" for f in self.files]
        return "\n".join(lines)


def _targets(state_path: Path) -> list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    """(target, format, npm scopes, modes) per target repository of the state."""
    found: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
    with WorkQueue.open(state_path, create=False) as q:
        for r in q.repositories():
            if not r["target"] or r["mode"] not in ("copy", "prewarm"):
                continue
            scopes, modes = found.setdefault((r["target"], r["format"]), (set(), set()))
            modes.add(r["mode"])
            if r["format"] == "npm":
                scopes.update(q.npm_scopes(r["id"]))
    return [(t, f, tuple(sorted(s)), tuple(sorted(m))) for (t, f), (s, m) in found.items()]


async def _endpoints(manifest: Manifest, wanted: list[tuple[str, str]]) -> dict:
    async with CodeArtifactClient.from_manifest(manifest) as client:
        return {(r, f): await client.endpoint(r, f) for r, f in wanted}


def _id(domain: str, repository: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", f"{domain}-{repository}")


def _env_name(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def _xml(root: ET.Element) -> str:
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def maven_settings(domain: str, repository: str, endpoint: str) -> str:
    """settings.xml: the server (user `aws`, password from the environment), a profile with
    the repository for dependencies and plugins, active; the mirror is left as a comment."""
    ET.register_namespace("", _SETTINGS_NS)
    ns = f"{{{_SETTINGS_NS}}}"
    rid = _id(domain, repository)
    root = ET.Element(f"{ns}settings", {
        f"{{{_XSI}}}schemaLocation": f"{_SETTINGS_NS} https://maven.apache.org/xsd/"
        "settings-1.0.0.xsd"})
    servers = _sub(root, f"{ns}servers")
    server = _sub(servers, f"{ns}server")
    _sub(server, f"{ns}id", rid)
    _sub(server, f"{ns}username", "aws")
    _sub(server, f"{ns}password", f"${{env.{TOKEN_ENV}}}")
    root.append(ET.Comment(
        f" Optional: send every request (Maven Central too) through CodeArtifact, when "
        f"{repository} has an upstream to Maven Central: "
        f"<mirrors><mirror><id>{rid}</id><mirrorOf>*</mirrorOf><url>{endpoint}</url>"
        f"</mirror></mirrors> "))
    profiles = _sub(root, f"{ns}profiles")
    profile = _sub(profiles, f"{ns}profile")
    _sub(profile, f"{ns}id", "codeartifact")
    for group, item in (("repositories", "repository"),
                        ("pluginRepositories", "pluginRepository")):
        repo = _sub(_sub(profile, f"{ns}{group}"), f"{ns}{item}")
        _sub(repo, f"{ns}id", rid)
        _sub(repo, f"{ns}url", endpoint)
        _sub(_sub(repo, f"{ns}releases"), f"{ns}enabled", "true")
        _sub(_sub(repo, f"{ns}snapshots"), f"{ns}enabled", "true")
    _sub(_sub(root, f"{ns}activeProfiles"), f"{ns}activeProfile", "codeartifact")
    return _xml(root)


def maven_distribution(domain: str, repository: str, endpoint: str) -> str:
    """The pom.xml `distributionManagement` snippet (`mvn deploy` with the settings' server)."""
    rid = _id(domain, repository)
    root = ET.Element("distributionManagement")
    for tag in ("repository", "snapshotRepository"):
        repo = _sub(root, tag)
        _sub(repo, "id", rid)
        _sub(repo, "name", f"CodeArtifact {domain}/{repository}")
        _sub(repo, "url", endpoint)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def _groovy_string(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def gradle_kotlin(endpoint: str) -> str:
    url = json.dumps(endpoint)  # a Kotlin string literal is a JSON string without $
    return f"""// build.gradle.kts: resolve from and publish to CodeArtifact.
// export {TOKEN_ENV}=$(aws codeartifact get-authorization-token ... --output text)
val codeArtifactToken: String = System.getenv("{TOKEN_ENV}")
    ?: error("{TOKEN_ENV} is not set")
val codeArtifactUrl = {url.replace("$", "${'$'}")}

repositories {{
    maven {{
        url = uri(codeArtifactUrl)
        credentials {{
            username = "aws"
            password = codeArtifactToken
        }}
    }}
}}

publishing {{
    repositories {{
        maven {{
            url = uri(codeArtifactUrl)
            credentials {{
                username = "aws"
                password = codeArtifactToken
            }}
        }}
    }}
}}
"""


def gradle_groovy(endpoint: str) -> str:
    return f"""// build.gradle: resolve from and publish to CodeArtifact.
// export {TOKEN_ENV}=$(aws codeartifact get-authorization-token ... --output text)
def codeArtifactToken = System.getenv('{TOKEN_ENV}')
if (!codeArtifactToken) {{ throw new GradleException('{TOKEN_ENV} is not set') }}
def codeArtifactUrl = {_groovy_string(endpoint)}

repositories {{
    maven {{
        url codeArtifactUrl
        credentials {{
            username 'aws'
            password codeArtifactToken
        }}
    }}
}}

publishing {{
    repositories {{
        maven {{
            url codeArtifactUrl
            credentials {{
                username 'aws'
                password codeArtifactToken
            }}
        }}
    }}
}}
"""


def npmrc(endpoint: str, scopes: tuple[str, ...], modes: tuple[str, ...]) -> str:
    """Scoped registries for the migrated scopes; `registry=` too when the repository holds
    unscoped packages or public ones (pre-warm): then every install goes through it."""
    lines = ["; .npmrc for CodeArtifact: the token comes from the environment",
             f"; export {TOKEN_ENV}=$(aws codeartifact get-authorization-token ... "
             "--output text)"]
    if "" in scopes or "prewarm" in modes or not scopes:
        lines.append(f"registry={endpoint}")
    lines += [f"@{s}:registry={endpoint}" for s in scopes if s]
    lines.append(f"//{endpoint.split('://', 1)[1]}:_authToken=${{{TOKEN_ENV}}}")
    return "\n".join(lines) + "\n"


def pip_index(endpoint: str, *, credentials: str | None = None) -> str:
    """The simple index of a PyPI endpoint (`<endpoint>simple/`), with `credentials` as the
    URL's user info when given."""
    parts = urlsplit(endpoint + "simple/")
    if credentials is None:
        return urlunsplit(parts)
    return urlunsplit(parts._replace(netloc=f"{credentials}@{parts.netloc}"))


def pip_conf(endpoint: str) -> str:
    url = pip_index(endpoint, credentials=f"aws:${{{TOKEN_ENV}}}")
    return (f"# pip.conf for CodeArtifact. pip reads this value verbatim: it does NOT expand\n"
            f"# ${{{TOKEN_ENV}}}. Use it through pip-env.sh (sets PIP_INDEX_URL, which pip\n"
            f"# prefers over this file), or let `aws codeartifact login --tool pip` write the\n"
            f"# token in for 12 hours.\n[global]\nindex-url = {url}\n")


def pip_env(endpoint: str) -> str:
    url = pip_index(endpoint, credentials=f"aws:${{{TOKEN_ENV}}}")
    return (f"# Source this file (. ./pip-env.sh) after exporting {TOKEN_ENV}:\n"
            f"# the shell expands the token into PIP_INDEX_URL; it is never written to disk.\n"
            f': "${{{TOKEN_ENV}:?export {TOKEN_ENV} first}}"\n'
            f'export PIP_INDEX_URL="{url}"\n')


def poetry_commands(domain: str, repository: str, endpoint: str) -> str:
    name = _id(domain, repository)
    return (f"#!/bin/sh\n# Poetry: {repository} as the primary source of this project.\n"
            f"set -eu\n: \"${{{TOKEN_ENV}:?export {TOKEN_ENV} first}}\"\n"
            f"poetry source add --priority=primary {name} {pip_index(endpoint)}\n"
            f'poetry config http-basic.{name} aws "${TOKEN_ENV}"\n'
            f"# Or, without storing the token: export POETRY_HTTP_BASIC_{_env_name(name)}_"
            f'USERNAME=aws POETRY_HTTP_BASIC_{_env_name(name)}_PASSWORD="${TOKEN_ENV}"\n')


def uv_index(domain: str, repository: str, endpoint: str, *, table: str) -> str:
    name = _id(domain, repository)
    env = _env_name(name)
    return (f"# uv: credentials from UV_INDEX_{env}_USERNAME=aws and\n"
            f'# UV_INDEX_{env}_PASSWORD="${TOKEN_ENV}" (never in this file).\n'
            f"[[{table}]]\nname = {json.dumps(name)}\nurl = {json.dumps(pip_index(endpoint))}\n"
            f"default = true\n")


def _aws(manifest: Manifest, *args: str) -> str:
    t = manifest.target
    extra = [f"--endpoint-url {t.endpoint_url}"] if t.endpoint_url else []
    return " ".join(["aws codeartifact", *args, f"--domain {t.domain}",
                     f"--domain-owner {t.domain_owner}", f"--region {t.region}", *extra])


def _readme(manifest: Manifest, repos: list[KitRepository]) -> str:
    token_line = (f"export {TOKEN_ENV}=$(" + _aws(manifest, "get-authorization-token")
                  + " --query authorizationToken --output text)")
    out = ["# Cut-over kit", "",
           f"Generated by `migrator cutover` for CodeArtifact domain `{manifest.target.domain}`"
           f" (owner {manifest.target.domain_owner}, {manifest.target.region}) from the "
           "endpoints CodeArtifact reports. No file holds a token: each refers to the "
           f"`{TOKEN_ENV}` environment variable.", "", "## The token (valid up to 12 h)", "",
           "```sh", token_line, "```", "",
           "In CI, assume a role through OIDC first; it needs `iam/consumer-policy.json` "
           "(builds) or `iam/migrator-policy.json` (the migration itself).", "",
           "## Per repository", ""]
    tools = {"npm": ["npm"], "pypi": ["pip", "twine"], "maven": []}
    for r in repos:
        out += [f"### {r.name} ({r.format})", "", f"Endpoint: {r.endpoint or '(none)'}", ""]
        if r.format == "maven":
            out += [f"Files: `maven/{r.name}/settings.xml` (`mvn -s settings.xml ...`, or copy "
                    "to `~/.m2/settings.xml`), `distribution-management.xml` (for the pom), "
                    "`build.gradle.kts`, `build.gradle`.", ""]
        elif r.format == "npm":
            out += [f"Files: `npm/{r.name}/.npmrc` (scopes: "
                    f"{', '.join('@' + s for s in r.scopes if s) or 'none'}).", ""]
        elif r.format == "pypi":
            out += [f"Files: `pypi/{r.name}/pip-env.sh` (`. ./pip-env.sh` sets "
                    "`PIP_INDEX_URL`; pip does not expand variables in `pip.conf`, so "
                    "`pip.conf` is the same URL with a placeholder), `poetry.sh`, `uv.toml` / "
                    "`pyproject-uv.toml`.", ""]
        login = [_aws(manifest, "login", f"--tool {tool}", f"--repository {r.name}")
                 for tool in tools.get(r.format, [])]
        if login:
            out += ["Or let the AWS CLI write the token into the tool's own config (12 h):",
                    "", "```sh", *login, "```", ""]
    out += ["## IAM", "", "- `iam/migrator-policy.json`: read, publish, verify, origin "
            "controls; the domain, its repositories and their packages only.",
            "- `iam/consumer-policy.json`: read-only (token, endpoints, reads).", "",
            "Gradle snippets are not validated by a real Gradle here; the others are "
            "checked by their real tools in migrator's tests.", ""]
    return "\n".join(out)


def write_kit(manifest: Manifest, state_path: Path, out: Path) -> KitResult:
    """Write the kit into `out` (created; existing kit files are replaced)."""
    targets = _targets(state_path)
    wanted = [(t, f) for t, f, _, _ in targets if f in _CLIENT_FORMATS]
    endpoints = anyio.run(_endpoints, manifest, wanted)
    repos = [KitRepository(t, f, endpoints.get((t, f)), scopes, modes)
             for t, f, scopes, modes in sorted(targets)]
    result = KitResult(out, repos)
    domain = manifest.target.domain

    def put(rel: str, text: str, mode: int = 0o644) -> None:
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(mode)
        result.files.append(p)

    for r in repos:
        if r.endpoint is None:
            continue
        if r.format == "maven":
            d = f"maven/{r.name}"
            put(f"{d}/settings.xml", maven_settings(domain, r.name, r.endpoint))
            put(f"{d}/distribution-management.xml",
                maven_distribution(domain, r.name, r.endpoint))
            put(f"{d}/build.gradle.kts", gradle_kotlin(r.endpoint))
            put(f"{d}/build.gradle", gradle_groovy(r.endpoint))
        elif r.format == "npm":
            put(f"npm/{r.name}/.npmrc", npmrc(r.endpoint, r.scopes, r.modes))
        elif r.format == "pypi":
            d = f"pypi/{r.name}"
            put(f"{d}/pip.conf", pip_conf(r.endpoint))
            put(f"{d}/pip-env.sh", pip_env(r.endpoint))
            put(f"{d}/poetry.sh", poetry_commands(domain, r.name, r.endpoint), 0o755)
            put(f"{d}/uv.toml", uv_index(domain, r.name, r.endpoint, table="index"))
            put(f"{d}/pyproject-uv.toml",
                uv_index(domain, r.name, r.endpoint, table="tool.uv.index"))
    t = manifest.target
    pairs = [(r.name, r.format) for r in repos]
    for name, policy in (("migrator", migrator_policy), ("consumer", consumer_policy)):
        doc = policy(region=t.region, owner=t.domain_owner, domain=t.domain,
                     repositories=pairs)
        put(f"iam/{name}-policy.json", json.dumps(doc, indent=2) + "\n")
    put("README.md", _readme(manifest, repos))
    return result
