"""First run after install: the whole `genrelab extract` command, first vs later runs.

    .venv/bin/python bench/first_run.py                 # the ten real clips, 5 later runs
    .venv/bin/python bench/first_run.py --later 2       # a short check

A fresh install has an empty numba cache; `make install` fills it with `python -m
genrelab.warmup`. This bench gives each case its own empty ``NUMBA_CACHE_DIR`` and times, as
a user waits for it (a new process each time, interpreter start-up included), `genrelab extract
CLIPS -o OUT --quiet` into an empty output folder (no feature cache):

  after warmup   ``python -m genrelab.warmup`` (timed apart), then the first extract, then
                 ``--later`` more; target (#15): the first within 20 % of the later ones' median
  no warmup      the first extract on the empty cache (what `make install` saves), for contrast

The audio files are read once before timing, so every run finds them in the page cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    """Wall seconds of ``cmd`` (which must succeed)."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall


def extract(clips: Path, work: Path, env: dict[str, str], workers: int) -> float:
    """One `genrelab extract` into a new, empty output folder under ``work``."""
    out = Path(tempfile.mkdtemp(dir=work, prefix="out-")) / "features.csv"
    cmd = [sys.executable, "-m", "genrelab", "extract", str(clips), "-o", str(out), "--quiet", "--workers", str(workers)]
    return timed(cmd, env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=Path, default=REPO.parent / "shared" / "gtzan" / "genres")
    ap.add_argument("--later", type=int, default=5, help="runs after the first")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    files = sorted(p for p in args.clips.rglob("*") if p.is_file())
    if not files:
        raise SystemExit(f"no clips under {args.clips}")
    for p in files:  # into the page cache
        p.read_bytes()
    src = os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
    with tempfile.TemporaryDirectory(prefix="genrelab-first-run-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, PYTHONPATH=src, NUMBA_CACHE_DIR=str(work / "numba-warm"))
        t_warm = timed([sys.executable, "-m", "genrelab.warmup"], env)
        first = extract(args.clips, work, env, args.workers)
        later = [extract(args.clips, work, env, args.workers) for _ in range(args.later)]
        cold_env = dict(env, NUMBA_CACHE_DIR=str(work / "numba-cold"))
        cold = extract(args.clips, work, cold_env, args.workers)
    med = statistics.median(later) if later else float("nan")
    print(f"\n`genrelab extract` on {len(files)} files in {args.clips} ({args.workers} worker(s)), "
          f"whole command wall time; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end\n")
    print("| case | wall s | vs later median |")
    print("|---|---:|---:|")
    print(f"| `python -m genrelab.warmup` (empty numba cache) | {t_warm:.2f} | |")
    print(f"| first extract after warmup | {first:.2f} | {first / med:.2f}x |")
    print(f"| later extracts (median of {len(later)}; min {min(later):.2f}, max {max(later):.2f}) | {med:.2f} | 1.00x |")
    print(f"| first extract, no warmup (empty numba cache) | {cold:.2f} | {cold / med:.2f}x |")
    verdict = "met" if first <= 1.2 * med else "not met"
    print(f"\ntarget: first run after warmup within 20 % of later runs: {verdict} ({100 * (first / med - 1):+.0f} %)")


if __name__ == "__main__":
    main()
