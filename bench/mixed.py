"""The mixed-corpus transfer benchmark: migrator against the quota floor and two baselines.

    .venv/bin/python bench/mixed.py                      # 25 ms and 100 ms, 3 runs each
    .venv/bin/python bench/mixed.py --quick              # CI: a tenth of the corpus, 1 run
    .venv/bin/python bench/mixed.py --latency 0.025 --runs 5 --budget 100

The corpus is bench/corpus.py's (Maven 2-3 files per version, npm 1, PyPI 1-2, generic 1-2,
log-normal sizes with a few large files), served by the sandbox's Nexus emulator into the
sandbox CodeArtifact with `--latency` on every CodeArtifact request and the real quotas
(migrator_sandbox/codeartifact/quotas.py: 100 writes/s, 800 reads/s, ...). Every
measurement gets a fresh sandbox (an empty target).

For each latency, in the same run:

- migrator: `plan`, then `run` timed alone (wall clock of the process, start-up included),
  `--runs` times; the median is reported. Ratio = quota floor / run seconds, where the floor
  is the unavoidable writes at the write quota (bench/corpus.py). The sandbox's request log
  gives writes, reads and 429s; every asset must end verified.
- the sequential single-connection copier (bench/baselines.py) on the first `--subset`
  versions of each format, extrapolated per file to the corpus;
- the per-file client loop (mvn / npm / twine per file) on the first `--client-subset`
  versions of Maven, npm and PyPI, extrapolated per file (skip with `--no-client-loop`).

CPU seconds per 1,000 assets come from the run process's own rusage.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench.baselines import client_loop, sequential_copy  # noqa: E402
from bench.corpus import CorpusStats, make_mixed_seed  # noqa: E402
from bench.transfer import PY, Sandbox  # noqa: E402

# `migrator run` as the `migrator` program runs it (`migrator.cli.entry`, which ends the
# process with os._exit once `main` returns), reporting its CPU and peak RSS just before.
# (Calling `main` and exiting normally would add the interpreter's teardown, ~0.3 s.)
RUSAGE_WRAPPER = (
    "import os, resource, sys\n"
    "_exit = os._exit\n"
    "def report_then_exit(code):\n"
    "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    print('RUSAGE', r.ru_utime + r.ru_stime, r.ru_maxrss, file=sys.stderr, flush=True)\n"
    "    _exit(code)\n"
    "os._exit = report_then_exit\n"
    "from migrator.cli import entry\n"
    "entry()\n"
)


def _sandbox(work: Path, seed: Path, latency: float) -> Sandbox:
    work.mkdir(parents=True)
    return Sandbox(work, seed, "--latency", str(latency))


def migrator_once(work: Path, seed: Path, corpus: CorpusStats, latency: float,
                  options: dict) -> dict:
    sb = _sandbox(work, seed, latency)
    try:
        sb.manifest(**options)
        subprocess.run([PY, "-m", "migrator", "plan", "bench.toml"], cwd=work, env=sb.env,
                       check=True, capture_output=True, timeout=1800)
        httpx_delete(sb)
        t0 = time.monotonic()
        proc = subprocess.run([PY, "-c", RUSAGE_WRAPPER, "--no-progress", "-q", "run",
                               "bench.toml", "--json"], cwd=work, env=sb.env,
                              capture_output=True, text=True, timeout=3600)
        seconds = time.monotonic() - t0
        log = sb.log(entries=True)
        sandbox_cpu = _cpu_seconds(sb.proc.pid)
    finally:
        sb.stop()
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                         f"{proc.stderr[-3000:]}")
    cpu = rss = 0.0
    for line in proc.stderr.splitlines():
        if line.startswith("RUSAGE"):
            cpu, rss = float(line.split()[1]), float(line.split()[2])
    summary = json.loads(proc.stdout)
    verified = summary["assets"].get("verified", 0)
    if verified != corpus.total_files:
        raise SystemExit(f"only {verified} of {corpus.total_files} assets verified: "
                         f"{summary['assets']}")
    entries = log["entries"]
    ok_writes = [e for e in entries if e["write"] and 200 <= e["status"] < 300]
    ops = Counter(e["operation"] for e in entries)
    times = [e["time"] for e in ok_writes]
    window = max(times) - min(times) if len(times) > 1 else 0.0
    return {"seconds": seconds, "write_window": window, "sandbox_cpu": sandbox_cpu,
            "cpu": cpu, "rss_mb": rss / 1024, "requests": len(entries),
            "writes": len(ok_writes), "reads": sum(1 for e in entries if not e["write"]),
            "throttled": sum(1 for e in entries if e["status"] == 429),
            "ops": dict(ops.most_common())}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc), 0 when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def httpx_delete(sb: Sandbox) -> None:
    """Forget the requests `plan` made (preflight), so the log holds the run alone."""
    import httpx

    httpx.delete(sb.info["codeartifact"]["requests_url"], timeout=60)


def baseline(kind: str, work: Path, seed: Path, latency: float, versions: int) -> dict:
    sb = _sandbox(work, seed, latency)
    try:
        if kind == "sequential":
            return sequential_copy(sb.info, sb.env, versions)
        return client_loop(sb.info, sb.env, versions, work / "client",
                           str(Path(PY).parent / "twine"))
    finally:
        sb.stop()


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, action="append",
                    help="seconds per CodeArtifact request (repeatable; default 0.025, 0.1)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="corpus size (1.0: ~620 files)")
    ap.add_argument("--budget", type=float, default=None, help="options.rate_budget")
    ap.add_argument("--concurrency", type=int, default=None, help="options.concurrency")
    ap.add_argument("--subset", type=int, default=12,
                    help="versions per format for the sequential copier")
    ap.add_argument("--client-subset", type=int, default=2,
                    help="versions per format for the client loop")
    ap.add_argument("--no-client-loop", action="store_true")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--quick", action="store_true",
                    help="CI: scale 0.1, one latency (25 ms), one run, sequential baseline "
                         "on 2 versions, no client loop")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    if args.quick:
        args.scale, args.runs, args.subset = 0.1, 1, 2
        args.no_client_loop = True
        args.latency = args.latency or [0.025]
    latencies = args.latency or [0.025, 0.1]
    # The sandbox writes `concurrency = 8`; the bench runs the default (auto) unless told.
    options: dict[str, object] = {"concurrency": '"auto"'}
    if args.budget is not None:
        options["rate_budget"] = args.budget
    if args.concurrency is not None:
        options["concurrency"] = args.concurrency
    rows: list[tuple[str, ...]] = [("latency", "who", "seconds", "ratio to floor", "speed-up",
                                    "detail")]
    figures: dict = {"latencies": {}}
    with tempfile.TemporaryDirectory(prefix="migrator-mixed-") as tmp:
        root = Path(tmp)
        seed, corpus = make_mixed_seed(root / "corpus", args.scale)
        figures["corpus"] = corpus.summary()
        figures["floor_writes"] = corpus.writes
        print(f"corpus: {corpus.summary()}", flush=True)
        for latency in latencies:
            tag = f"{latency * 1000:.0f} ms"
            runs = [migrator_once(root / f"m{tag}{i}".replace(" ", ""), seed, corpus, latency,
                                  options) for i in range(args.runs)]
            med = statistics.median(r["seconds"] for r in runs)
            best = min(runs, key=lambda r: abs(r["seconds"] - med))
            ratio = corpus.floor_seconds / med
            cpu_k = statistics.median(r["cpu"] for r in runs) / corpus.total_files * 1000
            throttled = statistics.median(r["throttled"] / r["requests"] for r in runs)
            # Writes per second from the first write to the last, against the budget: what
            # the tool sustains once it runs, without start-up and the last verifications.
            sustained = statistics.median(r["writes"] / r["write_window"] for r in runs
                                          if r["write_window"])
            sandbox_k = statistics.median(r["sandbox_cpu"] for r in runs) / corpus.total_files \
                * 1000
            each = ", ".join(f"{r['seconds']:.1f}" for r in runs)
            rows.append((tag, "migrator", f"{med:.1f}", f"{ratio:.2f}", "",
                         f"median of {len(runs)} ({each} s); {best['writes']} writes, "
                         f"{best['reads']} reads, "
                         f"{throttled * 100:.2f} % throttled; {sustained:.0f} writes/s "
                         f"sustained; CPU s/1k assets: {cpu_k:.1f} migrator, {sandbox_k:.1f} "
                         "sandbox; "
                         f"all {corpus.total_files} verified"))
            entry = {"migrator": runs, "median_seconds": med, "ratio": ratio,
                     "sustained_writes_per_s": sustained, "sandbox_cpu_per_1000": sandbox_k,
                     "cpu_per_1000": cpu_k, "throttled_share": throttled}
            if not args.no_baselines:
                seq = baseline("sequential", root / f"s{tag}".replace(" ", ""), seed, latency,
                               args.subset)
                seq_total = seq["per_file"] * corpus.total_files
                rows.append((tag, "sequential copier", f"{seq_total:.1f}",
                             f"{corpus.floor_seconds / seq_total:.2f}",
                             f"{seq_total / med:.1f}x",
                             f"{seq['files']} files in {seq['seconds']:.1f} s, extrapolated "
                             "per file"))
                entry["sequential"] = seq
                if not args.no_client_loop:
                    loop = baseline("client", root / f"c{tag}".replace(" ", ""), seed, latency,
                                    args.client_subset)
                    loop_total = loop["per_file"] * corpus.total_files
                    rows.append((tag, "client loop", f"{loop_total:.0f}",
                                 f"{corpus.floor_seconds / loop_total:.3f}",
                                 f"{loop_total / med:.0f}x",
                                 f"{loop['files']} files in {loop['seconds']:.1f} s "
                                 "(mvn/npm/twine per file), extrapolated per file"))
                    entry["client_loop"] = loop
            figures["latencies"][tag] = entry
            print(f"{tag}: migrator median {med:.1f} s, ratio {ratio:.2f}", flush=True)
    print(f"\nfloor: {corpus.floor_seconds:.2f} s ({corpus.writes} unavoidable writes at "
          "100/s)")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
