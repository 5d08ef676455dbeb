"""Transfer benchmark: the engine against the sandbox, printed as a table with ratios.

    .venv/bin/python bench/transfer.py [--assets 2000] [--big-gb 2] [--skip-big]

1. quota: `--assets` small Maven files (generated at bench time) with 25 ms latency per
   request and CodeArtifact's 100 writes/s quota; `rate_budget = 90` (the default). Reports
   sustained writes/s (successful target writes over the window from the first to the last
   one) and the 429s the run met and handled (every asset must end verified).
2. free: the same corpus with no latency and no quotas: assets per second on this machine.
3. big: one sparse `--big-gb` GB raw file migrated as a generic package: peak RSS of the
   migrating process (must stay < 200 MB while it streams, hashes and publishes).

Corpora are generated in a temporary folder and deleted afterwards; nothing big is committed.
Every process started here is stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PY = sys.executable
RSS_WRAPPER = (
    "import resource, sys\n"
    "from migrator.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "    rc = 0\n"
    "except SystemExit as done:\n"
    "    rc = done.code or 0\n"
    "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def make_maven_seed(root: Path, assets: int) -> Path:
    """`assets` small files: versions of 10 files (jar, pom, 8 classifier jars)."""
    seed = root / "seed"
    repo = seed / "maven-releases"
    per = 10
    n = 0
    v = 0
    while n < assets:
        art = f"lib{v // 20:03d}"
        ver = f"1.{v % 20}.0"
        d = repo / "com" / "bench" / art / ver
        d.mkdir(parents=True)
        names = [f"{art}-{ver}.pom", f"{art}-{ver}.jar"] + [
            f"{art}-{ver}-c{i}.jar" for i in range(per - 2)]
        for name in names[: assets - n]:
            body = (f"<project><!-- {name} -->" if name.endswith(".pom") else
                    f"PK {name} ").encode() + os.urandom(512)
            (d / name).write_bytes(body)
            n += 1
        v += 1
    (seed / "repos.toml").write_text(
        '[[repository]]\nname = "maven-releases"\nformat = "maven2"\ntype = "hosted"\n'
        'version_policy = "RELEASE"\n')
    return seed


def make_big_seed(root: Path, gigabytes: float) -> Path:
    seed = root / "seed"
    d = seed / "raw-files" / "big" / "1.0"
    d.mkdir(parents=True)
    with open(d / "big.bin", "wb") as fh:
        fh.truncate(int(gigabytes * 1024**3))  # sparse: no disk, reads as zeros
    (seed / "repos.toml").write_text(
        '[[repository]]\nname = "raw-files"\nformat = "raw"\ntype = "hosted"\n')
    return seed


_COMPILED = False


def compile_tool() -> None:
    """Byte-compile the tool and the sandbox once, as `pip install` does. Where
    PYTHONDONTWRITEBYTECODE is set (this machine's shell, some CI images) an editable
    checkout is otherwise compiled from source by every process it starts: ~100 modules,
    0.15-0.2 s of each run's start-up that no installed copy pays."""
    global _COMPILED
    if not _COMPILED:
        import compileall

        root = Path(__file__).resolve().parent.parent
        for package in ("migrator", "migrator_sandbox"):
            compileall.compile_dir(root / package, quiet=1)
        _COMPILED = True


class Sandbox:
    def __init__(self, workdir: Path, seed: Path, *args: str) -> None:
        compile_tool()
        self.workdir = workdir
        self.proc = subprocess.Popen(
            # The bench corpus never changes while it runs: check the seed folder once a
            # second instead of on every request (an O(files) stat walk on the event loop
            # the CodeArtifact emulator shares).
            [PY, "-m", "migrator", "sandbox", "serve", "--seed", str(seed),
             "--seed-check-interval", "1", "--write-manifest", str(workdir / "bench.toml"),
             *args],
            cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 600
        self.info: dict = {}
        while time.monotonic() < deadline:
            if select.select([self.proc.stdout], [], [], 0.5)[0]:
                line = self.proc.stdout.readline()
                if line:
                    self.info = json.loads(line)
                    break
            if self.proc.poll() is not None:
                break
        if not self.info:
            self.stop()
            raise SystemExit("the sandbox did not start")
        self.env = {**os.environ, **self.info["env"]}

    def manifest(self, **options: object) -> Path:
        path = self.workdir / "bench.toml"
        text = path.read_text()
        for key, value in options.items():
            text = text.replace(f"{key} = ", f"# {key} = ")
            text += f"{key} = {value}\n"
        path.write_text(text)
        return path

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def log(self, entries: bool = False) -> dict:
        url = self.info["codeartifact"]["requests_url"]
        return httpx.get(url, params={"entries": int(entries)}, timeout=120).json()


def migrate(sb: Sandbox, *, measure_rss: bool = False) -> tuple[float, int | None, dict]:
    """plan, then `run` timed alone; returns (seconds, peak RSS in KB, summary)."""
    subprocess.run([PY, "-m", "migrator", "plan", "bench.toml"], cwd=sb.workdir, env=sb.env,
                   check=True, capture_output=True, timeout=1800)
    cmd = [PY, "-c", RSS_WRAPPER] if measure_rss else [PY, "-m", "migrator"]
    t0 = time.monotonic()
    proc = subprocess.run([*cmd, "--no-progress", "-q", "run", "bench.toml", "--json"],
                          cwd=sb.workdir, env=sb.env, capture_output=True, text=True,
                          timeout=3600)
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                         f"{proc.stderr[-2000:]}")
    rss = None
    for line in proc.stderr.splitlines():
        if line.startswith("MAXRSS_KB"):
            rss = int(line.split()[1])
    return seconds, rss, json.loads(proc.stdout)


def write_window(sb: Sandbox) -> tuple[int, float, int]:
    """(successful writes, seconds from the first to the last, 429s)."""
    log = sb.log(entries=True)
    writes = [e["time"] for e in log["entries"] if e["write"] and 200 <= e["status"] < 300]
    throttled = sum(1 for e in log["entries"] if e["status"] == 429)
    span = max(writes) - min(writes) if len(writes) > 1 else 0.0
    return len(writes), span, throttled


def bench_small(root: Path, assets: int, *, latency: float, quotas: bool) -> dict:
    seed = make_maven_seed(root / "corpus", assets)
    work = root / ("quota" if quotas else "free")
    work.mkdir()
    args = ["--latency", str(latency)] + ([] if quotas else ["--no-quotas"])
    sb = Sandbox(work, seed, *args)
    try:
        sb.manifest(concurrency=16, source_concurrency=8, rate_budget=90 if quotas else 10000)
        seconds, _, summary = migrate(sb)
        writes, span, throttled = write_window(sb)
    finally:
        sb.stop()
    verified = summary["assets"].get("verified", 0)
    if verified != assets:
        raise SystemExit(f"only {verified} of {assets} assets verified: {summary['assets']}")
    return {"assets": assets, "seconds": seconds, "writes": writes,
            "writes_per_s": writes / span if span else 0.0,
            "assets_per_s": assets / seconds, "throttled": throttled}


def bench_big(root: Path, gigabytes: float) -> dict:
    seed = make_big_seed(root / "big-corpus", gigabytes)
    work = root / "big"
    work.mkdir()
    sb = Sandbox(work, seed, "--no-quotas")
    try:
        seconds, rss, summary = migrate(sb, measure_rss=True)
    finally:
        sb.stop()
    if summary["assets"].get("verified") != 1:
        raise SystemExit(f"the big file was not verified: {summary['assets']}")
    return {"bytes": int(gigabytes * 1024**3), "seconds": seconds, "rss_mb": (rss or 0) / 1024}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=2000)
    ap.add_argument("--latency", type=float, default=0.025)
    ap.add_argument("--big-gb", type=float, default=2.0)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--quick", action="store_true", help="CI: 200 assets, a 0.1 GB big file")
    args = ap.parse_args()
    if args.quick:
        args.assets, args.big_gb = 200, 0.1
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="migrator-bench-") as tmp:
        root = Path(tmp)
        q = bench_small(root / "a", args.assets, latency=args.latency, quotas=True)
        f = bench_small(root / "b", args.assets, latency=0.0, quotas=False)
        rows.append((f"{args.assets} small assets, {args.latency * 1000:.0f} ms latency, "
                     "100 writes/s quota", f"{q['writes_per_s']:.1f} writes/s",
                     f"{q['writes_per_s'] / 90:.2f}x of 90",
                     f"{q['writes']} writes in {q['seconds']:.1f} s; {q['throttled']} x 429 "
                     "handled; all verified"))
        rows.append((f"{args.assets} small assets, no latency, no quota",
                     f"{f['assets_per_s']:.1f} assets/s",
                     f"{f['assets_per_s'] / q['assets_per_s']:.2f}x of quota run",
                     f"{f['seconds']:.1f} s; {f['writes_per_s']:.0f} writes/s"))
        if not args.skip_big:
            (root / "c").mkdir()
            b = bench_big(root / "c", args.big_gb)
            rows.append((f"one {args.big_gb:g} GB generic asset (sparse file)",
                         f"{b['rss_mb']:.0f} MB peak RSS", f"{b['rss_mb'] / 200:.2f}x of 200 MB",
                         f"{b['seconds']:.1f} s, {b['bytes'] / b['seconds'] / 1e6:.0f} MB/s"))
    head = ("benchmark", "result", "ratio", "detail")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    for r in [head, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
