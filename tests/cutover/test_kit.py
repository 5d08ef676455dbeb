"""The cut-over kit's writers on their own (no sandbox): formats, references, IAM shape."""

from __future__ import annotations

import json
import tomllib

import defusedxml.ElementTree as DET
from parliament import analyze_policy_string

from migrator.cutover import consumer_policy, migrator_policy
from migrator.cutover.kit import (
    maven_distribution,
    maven_settings,
    npmrc,
    pip_conf,
    pip_env,
    pip_index,
    poetry_commands,
    uv_index,
)

EP = "https://acme-111122223333.d.codeartifact.eu-west-1.amazonaws.com/npm/team/"
PY = "https://acme-111122223333.d.codeartifact.eu-west-1.amazonaws.com/pypi/py/"
MVN = "https://acme-111122223333.d.codeartifact.eu-west-1.amazonaws.com/maven/libs/"
NS = {"s": "http://maven.apache.org/SETTINGS/1.0.0"}


def test_npmrc_scoped_only_for_a_copy_repository_of_scoped_packages():
    text = npmrc(EP, ("acme", "tools"), ("copy",))
    lines = [x for x in text.splitlines() if not x.startswith(";")]
    assert lines == [f"@acme:registry={EP}", f"@tools:registry={EP}",
                     "//acme-111122223333.d.codeartifact.eu-west-1.amazonaws.com/npm/team/"
                     ":_authToken=${CODEARTIFACT_AUTH_TOKEN}"]


def test_npmrc_sets_the_registry_for_unscoped_or_public_packages():
    assert f"registry={EP}" in npmrc(EP, ("", "acme"), ("copy",)).splitlines()
    assert f"registry={EP}" in npmrc(EP, (), ("prewarm",)).splitlines()


def test_pip_index_puts_the_placeholder_in_the_user_info_only():
    assert pip_index(PY) == PY + "simple/"
    url = pip_index(PY, credentials="aws:${CODEARTIFACT_AUTH_TOKEN}")
    assert url == ("https://aws:${CODEARTIFACT_AUTH_TOKEN}@acme-111122223333.d.codeartifact."
                   "eu-west-1.amazonaws.com/pypi/py/simple/")
    assert f"index-url = {url}" in pip_conf(PY)
    assert f'export PIP_INDEX_URL="{url}"' in pip_env(PY)


def test_maven_settings_and_distribution_parse_with_the_env_reference():
    root = DET.fromstring(maven_settings("acme", "libs", MVN))
    assert root.find("s:servers/s:server/s:password", NS).text == (
        "${env.CODEARTIFACT_AUTH_TOKEN}")
    assert root.find("s:activeProfiles/s:activeProfile", NS).text == "codeartifact"
    urls = [u.text for u in root.iter(f"{{{NS['s']}}}url")]
    assert urls == [MVN, MVN]
    dist = DET.fromstring(maven_distribution("acme", "libs", MVN))
    assert [e.find("id").text for e in dist] == ["acme-libs", "acme-libs"]


def test_poetry_and_uv_name_the_same_source_and_no_token():
    sh = poetry_commands("acme", "py", PY)
    assert f"poetry source add --priority=primary acme-py {PY}simple/" in sh
    assert 'poetry config http-basic.acme-py aws "$CODEARTIFACT_AUTH_TOKEN"' in sh
    doc = tomllib.loads(uv_index("acme", "py", PY, table="tool.uv.index"))
    assert doc["tool"]["uv"]["index"] == [{"name": "acme-py", "url": PY + "simple/",
                                           "default": True}]
    assert "UV_INDEX_ACME_PY_PASSWORD" in uv_index("acme", "py", PY, table="index")


def test_policies_are_scoped_and_clean_for_parliament():
    repos = [("libs", "maven"), ("team", "npm"), ("py", "pypi")]
    for make in (migrator_policy, consumer_policy):
        doc = make(region="eu-west-1", owner="111122223333", domain="acme",
                   repositories=repos)
        assert analyze_policy_string(json.dumps(doc)).findings == []
        for stmt in doc["Statement"]:
            if stmt["Action"] == "sts:GetServiceBearerToken":
                assert stmt["Resource"] == "*" and stmt["Condition"]
            else:
                assert all(":111122223333:" in r and "/acme" in r for r in stmt["Resource"])
    pkg = next(s for s in migrator_policy(region="eu-west-1", owner="111122223333",
                                          domain="acme", repositories=repos)["Statement"]
               if s["Sid"] == "MigratorPackage")
    assert pkg["Resource"] == [
        "arn:aws:codeartifact:eu-west-1:111122223333:package/acme/libs/maven/*",
        "arn:aws:codeartifact:eu-west-1:111122223333:package/acme/py/pypi/*",
        "arn:aws:codeartifact:eu-west-1:111122223333:package/acme/team/npm/*"]
    assert "codeartifact:PutPackageOriginConfiguration" in pkg["Action"]
