"""Profile one `migrator run` of the mixed corpus with py-spy (threads and the event loop).

    .venv/bin/python bench/profile_run.py [--latency 0.025] [--scale 1.0] [--out /tmp/x]

Starts the sandbox (bench/corpus.py's corpus, `--latency`, real quotas), plans, then runs
`migrator run` under `py-spy record --threads --idle --format raw` (collapsed stacks, one
line per stack with its sample count) and prints the functions with the most samples, by
own time and by time including callees. The sandbox is profiled too, in its own file,
because it shares the machine's CPU with the tool.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench.corpus import make_mixed_seed  # noqa: E402
from bench.transfer import PY, Sandbox  # noqa: E402


def top(path: Path, n: int = 25) -> str:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        k = int(count)
        samples += k
        frames = stack.split(";")
        own[frames[-1]] += k
        for f in set(frames):
            total[f] += k
    out = [f"{samples} samples", "-- own --"]
    out += [f"{c * 100 / samples:5.1f}%  {f}" for f, c in own.most_common(n)]
    out += ["-- including callees --"]
    out += [f"{c * 100 / samples:5.1f}%  {f}" for f, c in total.most_common(n)]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.025)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--out", type=Path, default=Path("bench-profile"))
    ap.add_argument("--idle", action="store_true", help="count idle (waiting) samples too")
    ap.add_argument("--sandbox-latency-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="migrator-profile-") as tmp:
        root = Path(tmp)
        seed, corpus = make_mixed_seed(root / "corpus", args.scale)
        work = root / "work"
        work.mkdir()
        sb = Sandbox(work, seed, "--latency", str(args.latency))
        sandbox_spy = subprocess.Popen(
            [spy, "record", "--pid", str(sb.proc.pid), "--format", "raw", "--threads",
             "-o", str(args.out / "sandbox.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            sb.manifest(concurrency='"auto"')
            subprocess.run([PY, "-m", "migrator", "plan", "bench.toml"], cwd=work, env=sb.env,
                           check=True, capture_output=True)
            cmd = [spy, "record", "--format", "raw", "--threads", "-o",
                   str(args.out / "run.txt"), *(["--idle"] if args.idle else []), "--",
                   PY, "-m", "migrator", "--no-progress", "-q", "run", "bench.toml"]
            subprocess.run(cmd, cwd=work, env=sb.env, check=True, capture_output=True)
        finally:
            sandbox_spy.send_signal(signal.SIGINT)
            sandbox_spy.wait(timeout=60)
            sb.stop()
    print(f"corpus: {corpus.summary()}")
    print("== migrator run\n" + top(args.out / "run.txt"))
    if (args.out / "sandbox.txt").exists():
        print("== sandbox\n" + top(args.out / "sandbox.txt", 15))
    return 0


if __name__ == "__main__":
    sys.exit(main())
