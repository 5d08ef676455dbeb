"""Shared by the tests of jobs/: where the files and the validators are, and every `migrator`
command line the job definitions run, read the way their scheduler reads it."""

from __future__ import annotations

import re
import shlex
import shutil
import string
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
JOBS = ROOT / "jobs"
KUBERNETES_VERSION = "1.33.0"  # the oldest release still supported upstream and on EKS

KUBERNETES_FILES = sorted((JOBS / "kubernetes").glob("*.yaml"))
GITHUB_FILES = sorted((JOBS / "github-actions").glob("*.yml"))
GITLAB_FILES = sorted((JOBS / "gitlab-ci").glob("*.yml"))
CFN_FILES = sorted((JOBS / "aws-batch").glob("*.yaml"))
SYSTEMD_UNITS = sorted((JOBS / "systemd").glob("*.service")) + sorted(
    (JOBS / "systemd").glob("*.timer"))


def tool(name: str) -> str:
    """A validator's executable: the venv's (Python validators) or the system's."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]' (Python validators) "
                    "or bash scripts/deps/jobs.sh (systemd-analyze)")
    return found


def run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120,
                          cwd=cwd, check=False)


# ---- CloudFormation: its short-form tags, resolved to parameter defaults -------------------

class CfnLoader(yaml.SafeLoader):
    pass


def _construct(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    return {name: value}


CfnLoader.add_multi_constructor("!", _construct)


def load_cfn(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=CfnLoader)


def cfn_resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """A Ref to a parameter as its default, the way a stack created with defaults sees it."""
    if isinstance(value, dict) and list(value) == ["Ref"]:
        return str(parameters[value["Ref"]]["Default"])
    return value


# ---- every `migrator` command line of jobs/ -----------------------------------------------

@dataclass(frozen=True)
class CommandLine:
    source: str        # file (and where in it)
    argv: tuple[str, ...]  # starting with "migrator"

    def __str__(self) -> str:
        return f"{self.source}: {shlex.join(self.argv)}"


_K8S_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\$")


def k8s_expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion of command/args: $(NAME) becomes the value of the container's
    env entry NAME, $$ an escaped $; a reference to an undeclared name stays as written."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _K8S_VAR.sub(sub, text)


def k8s_containers(path: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload document, container) for every container of every workload in the file."""
    out = []
    for doc in yaml.safe_load_all(path.read_text()):
        spec = doc.get("spec", {})
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            for c in spec["template"]["spec"]["containers"]:
                out.append((doc, c))
    return out


_SHELL_OPERATORS = {"|", "||", "&&", ";", "&"}


def _shell_lines(script: str) -> list[str]:
    """Logical lines of a shell script (backslash continuations joined)."""
    return script.replace("\\\n", " ").splitlines()


def _from_shell(source: str, script: str, env: dict[str, Any]) -> list[CommandLine]:
    """The `migrator` lines of a script, with the variables the job defines ($NAME, ${NAME})
    replaced as the shell would (others, such as secrets, stay as written)."""
    found = []
    values = {k: str(v) for k, v in env.items()}
    for line in _shell_lines(script):
        words = shlex.split(string.Template(line).safe_substitute(values), comments=True)
        # the command ends where the shell's redirections and lists begin
        for i, w in enumerate(words):
            if w in _SHELL_OPERATORS or w.startswith((">", "2>", "<")):
                words = words[:i]
                break
        if words and words[0] == "migrator":
            found.append(CommandLine(source, tuple(words)))
    return found


def job_command_lines() -> list[CommandLine]:
    """What each scheduler would exec, file by file (the image's ENTRYPOINT is `migrator`)."""
    found: list[CommandLine] = []
    for path in KUBERNETES_FILES:
        for doc, c in k8s_containers(path):
            env = {e["name"]: "0" for e in c.get("env", [])}  # any index: one value
            args = [k8s_expand(a, env) for a in c.get("command", ["migrator"]) + c["args"]]
            found.append(CommandLine(f"{path.name}:{doc['kind']}/{c['name']}", tuple(args)))
    for path in CFN_FILES:
        t = load_cfn(path)
        for name, r in t["Resources"].items():
            if r["Type"] == "AWS::Batch::JobDefinition":
                cmd = r["Properties"]["ContainerProperties"]["Command"]
                args = [cfn_resolve(a, t["Parameters"]) for a in cmd]
                found.append(CommandLine(f"{path.name}:{name}", ("migrator", *args)))
    for path in GITHUB_FILES:
        wf = yaml.safe_load(path.read_text())
        for job_name, job in wf["jobs"].items():
            for step in job["steps"]:
                if "run" in step:
                    env = {**wf.get("env", {}), **job.get("env", {}), **step.get("env", {})}
                    found += _from_shell(f"{path.name}:{job_name}", step["run"], env)
    for path in GITLAB_FILES:
        pipeline = yaml.safe_load(path.read_text())
        for job_name, job in pipeline.items():
            if isinstance(job, dict) and "script" in job:
                env = {**pipeline.get("variables", {}), **job.get("variables", {})}
                for key in ("before_script", "script", "after_script"):
                    for line in job.get(key, []):
                        found += _from_shell(f"{path.name}:{job_name}.{key}", line, env)
    for path in SYSTEMD_UNITS:
        for line in path.read_text().splitlines():
            if line.startswith("ExecStart="):
                words = shlex.split(line.removeprefix("ExecStart="))
                if Path(words[0]).name == "migrator":
                    found.append(CommandLine(path.name, ("migrator", *words[1:])))
    return found
