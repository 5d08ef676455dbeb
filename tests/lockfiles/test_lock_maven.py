"""Maven dependency lists: `mvn dependency:list` output and gradle.lockfile."""

from __future__ import annotations

import pytest

from migrator.errors import LockfileError
from migrator.lockfiles import detect, read_lockfile
from migrator.models import Format

CLI = ["commons-cli/commons-cli/1.5.0/commons-cli-1.5.0.jar",
       "commons-cli/commons-cli/1.5.0/commons-cli-1.5.0.pom"]
GREETER = ["com/acme/greeter/1.1.0/greeter-1.1.0.jar", "com/acme/greeter/1.1.0/greeter-1.1.0.pom"]


def test_dependency_list_console_output(samples):
    path = samples / "maven" / "dependency-list.txt"
    assert detect(path) == "dependency-list.txt"
    items = read_lockfile(path)
    assert sorted(i.path for i in items) == sorted(CLI + GREETER)
    assert {(i.format, i.namespace, i.name, i.version) for i in items} == {
        (Format.MAVEN, "commons-cli", "commons-cli", "1.5.0"),
        (Format.MAVEN, "com.acme", "greeter", "1.1.0")}


def test_dependency_list_classifiers_types_and_output_file(tmp_path):
    (tmp_path / "deps.txt").write_text(
        "\nThe following files have been resolved:\n"
        "   org.acme:bom:pom:2.0:import\n"
        "   org.acme:core:test-jar:2.0:test\n"
        "   org.acme:natives:jar:linux-x86_64:2.0:runtime:/root/.m2/x.jar\n"
        "   none\n")
    paths = sorted(i.path for i in read_lockfile(tmp_path / "deps.txt"))
    assert paths == sorted([
        "org/acme/bom/2.0/bom-2.0.pom",
        "org/acme/core/2.0/core-2.0.pom", "org/acme/core/2.0/core-2.0-tests.jar",
        "org/acme/natives/2.0/natives-2.0.pom",
        "org/acme/natives/2.0/natives-2.0-linux-x86_64.jar"])


def test_dependency_list_bad_line(tmp_path):
    (tmp_path / "deps.txt").write_text(
        "The following files have been resolved:\n   org.acme:core:2.0\n")
    with pytest.raises(LockfileError, match=r"deps.txt:2: 'org.acme:core:2.0'"):
        read_lockfile(tmp_path / "deps.txt")


def test_gradle_lockfile(samples, tmp_path):
    items = read_lockfile(samples / "maven" / "gradle.lockfile")
    assert sorted(i.path for i in items) == sorted(CLI + GREETER)
    # Gradle does not say a module's packaging: its jar is requested but may be absent
    assert {i.filename for i in items if i.optional} == {"commons-cli-1.5.0.jar",
                                                         "greeter-1.1.0.jar"}
    listed = read_lockfile(samples / "maven" / "dependency-list.txt")
    assert not any(i.optional for i in listed)
    (tmp_path / "gradle.lockfile").write_text("org.acme:core=compileClasspath\n")
    with pytest.raises(LockfileError, match=r"gradle.lockfile:1: .* group:name:version"):
        read_lockfile(tmp_path / "gradle.lockfile")
