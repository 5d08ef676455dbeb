"""The cut-over kit after the demo migration, each file checked by its real tool: the XML by a
parser and by real mvn resolving a migrated artifact, .npmrc by npm, pip.conf/pip-env.sh by
pip, Poetry's commands by poetry, the uv index by uv, the IAM policies by parliament; and no
secret of the environment in any file. (Gradle: not here, see the README of the kit.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import botocore.session
import defusedxml.ElementTree as DET
import pytest

from .conftest import SEED, start_sandbox, stop_sandbox
from .transfer_helpers import engine, isolated_pip_env, token_and_endpoint

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".cache" / "poetry-venv" / "bin"
IAM_ONLY = {"ReadFromRepository", "PutPackageMetadata"}
NS = {"s": "http://maven.apache.org/SETTINGS/1.0.0"}
# Distinctive values of every secret the cut-over command could see; none may reach a file.
SECRETS = {"AWS_SECRET_ACCESS_KEY": "cutover-aws-secret-6b1f0c",
           "AWS_SESSION_TOKEN": "cutover-session-token-93ad27",
           "CODEARTIFACT_AUTH_TOKEN": "cutover-ca-token-5e77d1",
           "NEXUS_PASSWORD": "cutover-nexus-password-0c4b"}


def run(cmd, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180, **kw)
    assert r.returncode == 0, f"{cmd}: rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    work = tmp_path_factory.mktemp("cutover")
    sb = start_sandbox(work)
    try:
        r = engine(sb, "run", "demo.toml", "--json")
        assert r.returncode == 0, r.stderr
        out = work / "kit"
        r = engine(sb, "cutover", "demo.toml", "--out", str(out), "--json", env=SECRETS)
        assert r.returncode == 0, r.stderr
        yield sb, out, json.loads(r.stdout)
    finally:
        stop_sandbox(sb)


def test_kit_lists_every_migrated_repository_with_its_codeartifact_endpoint(kit):
    sb, out, result = kit
    repos = {r["name"]: r for r in result["repositories"]}
    for name, fmt in (("maven-releases", "maven"), ("npm-internal", "npm"),
                      ("pypi-internal", "pypi")):
        assert repos[name]["endpoint"] == token_and_endpoint(sb, name, fmt)[1]
    assert "types" in repos["npm-internal"]["scopes"]
    assert repos["raw-files"]["endpoint"] is None  # generic: IAM only
    assert (out / "README.md").is_file()


def test_no_secret_in_any_file(kit):
    sb, out, _ = kit
    token, _ = token_and_endpoint(sb, "maven-releases", "maven")
    secrets = [*SECRETS.values(), token, *(v for k, v in sb.info["env"].items()
                                           if k.endswith(("SECRET_ACCESS_KEY", "PASSWORD",
                                                          "TOKEN")))]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 10
    for p in files:
        text = p.read_text()
        for s in secrets:
            assert s not in text, f"{p} holds a secret"
    assert "${env.CODEARTIFACT_AUTH_TOKEN}" in (out / "maven/maven-releases/settings.xml"
                                                ).read_text()


def test_settings_xml_parses_and_real_mvn_resolves_a_migrated_artifact(kit, tmp_path):
    sb, out, _ = kit
    settings = out / "maven" / "maven-releases" / "settings.xml"
    root = DET.parse(settings).getroot()
    server = root.find("s:servers/s:server", NS)
    assert server.find("s:username", NS).text == "aws"
    assert server.find("s:password", NS).text == "${env.CODEARTIFACT_AUTH_TOKEN}"
    _, url = token_and_endpoint(sb, "maven-releases", "maven")
    repo = root.find("s:profiles/s:profile/s:repositories/s:repository", NS)
    assert repo.find("s:url", NS).text == url
    assert repo.find("s:id", NS).text == server.find("s:id", NS).text
    DET.fromstring("<project>" + (settings.parent / "distribution-management.xml").read_text()
                   + "</project>")
    # Debian's plugins come from the system repository through a *global* settings file;
    # the generated file is the user settings, unchanged.
    debian = tmp_path / "global-settings.xml"
    debian.write_text(
        '<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0"><mirrors><mirror>'
        "<id>debian-system-repo</id><mirrorOf>central</mirrorOf>"
        "<url>file:///usr/share/maven-repo</url></mirror></mirrors></settings>")
    token, _ = token_and_endpoint(sb, "maven-releases", "maven")
    env = {**os.environ, "CODEARTIFACT_AUTH_TOKEN": token}
    run(["mvn", "-B", "-q", "-c", "-gs", str(debian), "-s", str(settings),
         f"-Dmaven.repo.local={tmp_path / 'm2'}",
         "org.apache.maven.plugins:maven-dependency-plugin:3.5.0:get",
         "-Dartifact=com.acme:greeter:1.1.0:jar:sources", "-Dtransitive=false"], env=env)
    name = "com/acme/greeter/1.1.0/greeter-1.1.0-sources.jar"
    assert (tmp_path / "m2" / name).read_bytes() == (SEED / "maven-releases" / name
                                                     ).read_bytes()


def test_npmrc_read_by_npm_and_installs_a_migrated_scoped_package(kit, tmp_path):
    sb, out, _ = kit
    npmrc = out / "npm" / "npm-internal" / ".npmrc"
    token, registry = token_and_endpoint(sb, "npm-internal", "npm")
    env = {**os.environ, "CODEARTIFACT_AUTH_TOKEN": token}
    common = ["--userconfig", str(npmrc), "--cache", str(tmp_path / "cache")]
    listed = run(["npm", "config", "list", *common], env=env, cwd=tmp_path).stdout
    assert f"@types:registry = \"{registry}\"" in listed
    assert "_authToken = (protected)" in listed
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "package.json").write_text('{"name": "c", "version": "1.0.0", "private": true}')
    run(["npm", "install", *common, "--no-audit", "--no-fund", "@types/ms@0.7.34"],
        cwd=consumer, env=env)
    got = json.loads((consumer / "node_modules/@types/ms/package.json").read_text())
    assert got["version"] == "0.7.34"


def _pip_env(token: str, conf: Path) -> dict[str, str]:
    env = isolated_pip_env()
    env.pop("PIP_FIND_LINKS", None)
    return {**env, "PIP_CONFIG_FILE": str(conf), "CODEARTIFACT_AUTH_TOKEN": token,
            "PIP_NO_INPUT": "1"}


def test_pip_conf_read_by_pip_and_pip_env_downloads_a_migrated_package(kit, tmp_path):
    sb, out, _ = kit
    d = out / "pypi" / "pypi-internal"
    token, _ = token_and_endpoint(sb, "pypi-internal", "pypi")
    env = _pip_env(token, d / "pip.conf")
    pip = [sys.executable, "-m", "pip"]
    debug = run([*pip, "config", "debug"], env=env).stdout
    assert "global.index-url: http" in debug and "${CODEARTIFACT_AUTH_TOKEN}@" in debug
    fetch = [*pip, "download", "--no-cache-dir", "--no-deps", "--only-binary", ":all:", "-d",
             str(tmp_path / "dl"), "jaraco.classes==3.4.0"]
    # pip does not expand the variable in pip.conf: the placeholder alone is refused ...
    alone = subprocess.run(fetch, env=env, capture_output=True, text=True, timeout=120)
    assert alone.returncode != 0
    # ... pip-env.sh puts the token in PIP_INDEX_URL through the shell.
    run(["bash", "-c", f'. "{d / "pip-env.sh"}" && exec "$@"', "pip-env", *fetch], env=env)
    wheel = "jaraco.classes-3.4.0-py3-none-any.whl"
    assert (tmp_path / "dl" / wheel).read_bytes() == (
        SEED / "pypi-internal/packages/jaraco-classes/3.4.0" / wheel).read_bytes()


def tool(name: str) -> Path:
    """A client installed by scripts/deps/cutover.sh (`make test` runs it): missing is a
    failure, not a skip."""
    path = TOOLS / name
    assert path.exists(), f"{path} is missing: run `make deps` (scripts/deps/cutover.sh)"
    return path


def test_poetry_commands_run_in_a_throwaway_project(kit, tmp_path):
    sb, out, _ = kit
    tool("poetry")
    token, url = token_and_endpoint(sb, "pypi-internal", "pypi")
    project = tmp_path / "proj"
    project.mkdir()
    env = {**os.environ, "CODEARTIFACT_AUTH_TOKEN": token, "PATH":
           f"{TOOLS}:{os.environ['PATH']}", "POETRY_CONFIG_DIR": str(tmp_path / "pcfg"),
           "POETRY_CACHE_DIR": str(tmp_path / "pcache"), "POETRY_KEYRING_ENABLED": "false",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    run([str(TOOLS / "poetry"), "init", "-n", "--name", "proj", "--python", ">=3.11"],
        cwd=project, env=env)
    run(["sh", str(out / "pypi" / "pypi-internal" / "poetry.sh")], cwd=project, env=env)
    import tomllib

    doc = tomllib.loads((project / "pyproject.toml").read_text())
    source = doc["tool"]["poetry"]["source"][0]
    assert source == {"name": "demo-pypi-internal", "url": url + "simple/",
                      "priority": "primary"}
    auth = (tmp_path / "pcfg" / "auth.toml").read_text()
    assert "demo-pypi-internal" in auth and "aws" in auth
    # Locking needs nothing beyond the sandbox: typing-extensions has no dependencies and the
    # primary source replaces PyPI.
    run([str(TOOLS / "poetry"), "add", "--lock", "typing-extensions==4.12.2"], cwd=project,
        env=env)
    lock = tomllib.loads((project / "poetry.lock").read_text())
    (locked,) = [p for p in lock["package"] if p["name"] == "typing-extensions"]
    assert locked["version"] == "4.12.2"
    assert locked["source"]["url"].rstrip("/") == url + "simple"


def test_uv_installs_a_migrated_package_through_the_index(kit, tmp_path):
    sb, out, _ = kit
    tool("uv")
    token, _ = token_and_endpoint(sb, "pypi-internal", "pypi")
    project = tmp_path / "proj"
    project.mkdir()
    snippet = (out / "pypi" / "pypi-internal" / "pyproject-uv.toml").read_text()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0"\nrequires-python = ">=3.11"\n\n' + snippet)
    env = {**os.environ, "UV_INDEX_DEMO_PYPI_INTERNAL_USERNAME": "aws",
           "UV_INDEX_DEMO_PYPI_INTERNAL_PASSWORD": token, "UV_NO_CACHE": "1",
           "UV_CACHE_DIR": str(tmp_path / "uvcache"), "XDG_CONFIG_HOME": str(tmp_path / "x")}
    for k in ("PIP_FIND_LINKS", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS"):
        env.pop(k, None)
    install = [str(TOOLS / "uv"), "pip", "install", "--python", sys.executable, "--target",
               str(tmp_path / "site"), "--no-deps", "jaraco.classes==3.4.0"]
    # The index is the only one (default = true, no PyPI): a wrong password fails ...
    wrong = subprocess.run(install, cwd=project, capture_output=True, text=True, timeout=120,
                           env={**env, "UV_INDEX_DEMO_PYPI_INTERNAL_PASSWORD": "wrong"})
    assert wrong.returncode != 0
    run(install, cwd=project, env=env)  # ... the token from the environment works
    assert list((tmp_path / "site").glob("jaraco.classes-3.4.0*.dist-info"))
    # and uv.toml (the same index outside a pyproject) parses as uv config
    import tomllib

    assert tomllib.loads((out / "pypi/pypi-internal/uv.toml").read_text())["index"][0][
        "default"] is True


def test_iam_policies_pass_parliament_with_known_actions_and_narrow_resources(kit):
    from parliament import analyze_policy_string

    _, out, _ = kit
    operations = set(botocore.session.get_session().get_service_model("codeartifact")
                     .operation_names)
    for name in ("migrator", "consumer"):
        text = (out / "iam" / f"{name}-policy.json").read_text()
        findings = analyze_policy_string(text).findings
        assert findings == [], f"{name}: {[(f.issue, f.detail) for f in findings]}"
        doc = json.loads(text)
        for stmt in doc["Statement"]:
            actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            for a in actions:
                service, _, op = a.partition(":")
                # IAM-only permissions of the native endpoints (no API operation)
                if service == "codeartifact" and op not in IAM_ONLY:
                    assert op in operations, a
            if stmt["Resource"] == "*":
                assert actions == ["sts:GetServiceBearerToken"]
                assert stmt["Condition"] == {"StringEquals": {
                    "sts:AWSServiceName": "codeartifact.amazonaws.com"}}
    consumer = json.loads((out / "iam" / "consumer-policy.json").read_text())
    granted = {a for s in consumer["Statement"] for a in
               (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert not {a for a in granted if "Publish" in a or "Put" in a or "Update" in a}

