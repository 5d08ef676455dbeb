"""The Containerfile, read by dockerfile-parse (no engine runs here and no base image can be
pulled, so it is not built in the tests): two stages, a pinned base, the wheel built in the
builder and installed into a venv that is all the final stage takes, a non-root USER,
ENTRYPOINT migrator, no build tool and no pip in the final image."""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser

from .conftest import ROOT

CONTAINERFILE = ROOT / "Containerfile"
PINNED = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|cc|make|build-essential|clang|git|curl|wget|"
                         r"apt-get|apk|dnf|yum)\b")
ROOT_USERS = {"root", "0", "0:0", "root:root"}


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [v for i, v in self.instructions if i == instruction]


def stages(text: str) -> list[Stage]:
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
    out: list[Stage] = []
    for item in parser.structure:
        ins, value = item["instruction"], item["value"]
        if ins == "FROM":
            words = value.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            out.append(Stage(words[0], name))
        elif ins != "COMMENT":
            assert out, f"{ins} before the first FROM"
            out[-1].instructions.append((ins, value))
    return out


def problems(text: str) -> list[str]:
    """What makes a Containerfile unfit for the jobs, each said as a sentence."""
    found: list[str] = []
    st = stages(text)
    if len(st) < 2:
        return ["not multi-stage: the wheel must be built in a stage of its own"]
    builder, final = st[0], st[-1]
    found += [f"FROM {s.base}: not pinned by digest" for s in st if not PINNED.match(s.base)]
    if not any("pip wheel" in r for r in builder.values("RUN")):
        found.append("the builder does not build a wheel")
    users = final.values("USER")
    if not users or users[-1].strip() in ROOT_USERS:
        found.append("the final stage runs as root")
    entry = final.values("ENTRYPOINT")
    try:
        exec_form = json.loads(entry[-1]) if entry else None
    except json.JSONDecodeError:  # shell form: a shell would be PID 1, eating SIGTERM
        exec_form = None
    if exec_form != ["migrator"]:
        found.append('the ENTRYPOINT is not ["migrator"] (exec form)')
    for run in final.values("RUN"):
        if BUILD_TOOLS.search(run):
            found.append(f"the final stage installs or runs a build tool: {run}")
        if re.search(r"pip\s+install", run):
            found.append(f"the final stage installs with pip (cache, sources): {run}")
    for copy in final.values("COPY") + final.values("ADD"):
        words = shlex.split(copy)
        if not any(w.startswith("--from=") for w in words):
            found.append(f"the final stage copies from the build context: {copy}")
    return found


def test_the_containerfile_is_fit():
    assert problems(CONTAINERFILE.read_text()) == []


def test_its_stages_are_what_the_jobs_rely_on():
    builder, final = stages(CONTAINERFILE.read_text())
    assert builder.name == "builder" and builder.base == final.base
    # the final stage takes only the venv the wheel was installed into
    assert final.values("COPY") == ["--from=builder /opt/migrator /opt/migrator"]
    assert any("install /wheels/migrator-" in r for r in builder.values("RUN"))
    assert any("--without-pip" in r for r in builder.values("RUN"))
    # the uid the Kubernetes securityContext and the Batch job definition name
    assert final.values("USER") == ["10001:10001"]
    assert any("--uid 10001" in r for r in final.values("RUN"))
    assert any("pip uninstall --yes pip" in r for r in final.values("RUN"))
    assert "PATH=/opt/migrator/bin:$PATH" in " ".join(final.values("ENV"))


def test_what_the_builder_copies_exists_and_the_context_leaves_out_local_state():
    (builder, _final) = stages(CONTAINERFILE.read_text())
    for copy in builder.values("COPY"):
        for src in shlex.split(copy)[:-1]:
            assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".cache", ".git", "state"} <= set(ignored)


def test_the_checks_reject_unfit_containerfiles():
    good = CONTAINERFILE.read_text()
    digest = re.search(r"@sha256:[0-9a-f]{64}", good).group(0)
    cases = {
        "not pinned by digest": good.replace(digest, "", 1),
        "runs as root": good.replace("USER 10001:10001", "USER root"),
        "ENTRYPOINT": good.replace('ENTRYPOINT ["migrator"]', "ENTRYPOINT migrator"),
        "build tool": good.replace("USER 10001", "RUN apt-get install -y gcc\nUSER 10001"),
        "installs with pip": good.replace("USER 10001", "RUN pip install boto3\nUSER 10001"),
        "copies from the build context": good.replace("USER 10001", "COPY . /src\nUSER 10001"),
        "not multi-stage": good[good.rindex("\nFROM "):],  # the final stage alone
    }
    for said, text in cases.items():
        assert text != good
        found = problems(text)
        assert any(said in p for p in found), (said, found)


def test_the_builder_stage_runs(tmp_path):
    """The builder's own steps, run here on this checkout: only what its COPY lines bring,
    its ENV, its RUN commands, with /wheels and /opt/migrator under tmp_path and, to stay
    offline-cheap, the dependencies left out (`install --no-deps`; the final image gets them
    from the index like any pip install). Proves the wheel builds from exactly the copied
    files and lands, with its `migrator` entry point and without pip, in the venv the final
    stage copies."""
    import os
    import subprocess
    import sys

    builder, _final = stages(CONTAINERFILE.read_text())
    workdir = tmp_path / "src"
    workdir.mkdir()
    mapped = {"/wheels": str(tmp_path / "wheels"), "/opt/migrator": str(tmp_path / "venv")}

    def local(text: str) -> str:
        for image_path, here in mapped.items():
            text = text.replace(image_path, here)
        return text

    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    python_dir = str(tmp_path / "bin")
    os.mkdir(python_dir)
    os.symlink(sys.executable, os.path.join(python_dir, "python"))  # the image's `python`
    env["PATH"] = python_dir + os.pathsep + env["PATH"]
    for ins, value in builder.instructions:
        if ins == "ENV":
            for word in shlex.split(value):
                key, _, val = word.partition("=")
                env[key] = val
        elif ins == "COPY":
            *sources, dest = shlex.split(value)
            for src in sources:
                target = workdir / dest / Path(src).name if dest.endswith("/") else workdir / dest
                if (ROOT / src).is_dir():
                    shutil.copytree(ROOT / src, target,
                                    ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(ROOT / src, target)
        elif ins == "RUN":
            cmd = local(value).replace(" install /", " install --no-deps /")
            r = subprocess.run(["sh", "-ec", cmd], cwd=workdir, env=env, capture_output=True,
                               text=True, timeout=300, check=False)
            assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    venv = tmp_path / "venv"
    assert (venv / "bin" / "migrator").exists()
    assert not list(venv.glob("lib/python*/site-packages/pip"))  # nothing to install with
    (cli,) = venv.glob("lib/python*/site-packages/migrator/cli/__init__.py")
    assert cli.read_bytes() == (ROOT / "migrator" / "cli" / "__init__.py").read_bytes()
    # the entry point runs (its dependencies borrowed from the test environment's)
    deps = next(Path(sys.executable).parent.parent.glob("lib/python*/site-packages"))
    r = subprocess.run([str(venv / "bin" / "migrator"), "--version"], capture_output=True,
                       text=True, timeout=60, check=False, cwd=tmp_path,
                       env={**env, "PYTHONPATH": str(deps)})
    assert r.returncode == 0 and r.stdout.strip(), r.stdout + r.stderr
    r = subprocess.run([str(venv / "bin" / "python"), "-c",
                        "import migrator.cli; print(migrator.cli.__file__)"],
                       capture_output=True, text=True, timeout=60, check=False,
                       cwd=tmp_path,  # not the checkout: `-c` puts the cwd first on sys.path
                       env={**env, "PYTHONPATH": str(deps)})
    assert Path(r.stdout.strip()) == cli, r.stdout + r.stderr  # the installed wheel's code
