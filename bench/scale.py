"""Scale: `genrelab extract` on 1,000 and 5,000 synthesised clips, 1 and 2 workers and a Dask LocalCluster.

Each (size, mode) runs `genrelab extract CORPUS -o OUT --quiet` (the command's own code,
``genrelab.cli.main``) in a fresh child process with an empty output folder (so an empty cache:
every clip is extracted and its cache entry written). This process samples, every 0.1 s, the
resident memory of that child and all its descendants (the local worker processes, or the Dask
LocalCluster's nannies and workers, which the child starts) and keeps the peak of the sum: RSS
(pages shared between processes count once per process, so it overstates) and PSS (shared pages
split between their processes: the tree's real share of memory). Clips/s is clips over the
command's wall time inside the child (interpreter start-up and, for Dask, the cluster's start-up
excluded; both are printed). The corpus is synthesised once (`genrelab.data.synth`, in two
processes) into ``--corpus`` and reused; each size is a folder of hard links to the first
``size / 10`` clips of each genre.

    .venv/bin/python bench/scale.py                          # 1,000 and 5,000 clips of 4 s
    .venv/bin/python bench/scale.py --sizes 50 200 --modes 1 2 dask   # a short check

Memory should stay flat: the peak at the largest size within 10 % of the peak at the smallest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
SRC = Path(__file__).resolve().parents[1] / "src"


def synth_genre(corpus: Path, genre: str, per_genre: int, seconds: float) -> int:
    """Synthesise (or keep) ``per_genre`` clips of ``genre`` under ``corpus``; the number of clips."""
    from genrelab.data import synthesise_corpus

    return len(synthesise_corpus(corpus, clips_per_genre=per_genre, duration=seconds, genres=[genre], progress=False))


def size_folder(corpus: Path, size: int) -> Path:
    """``corpus/../sizes/<size>``: hard links to the first ``size / 10`` clips of each genre."""
    folder = corpus.parent / f"{corpus.name}-size-{size}"
    per = size // len(GENRES)
    for g in GENRES:
        (folder / g).mkdir(parents=True, exist_ok=True)
        for src in sorted((corpus / g).glob("*.wav"))[:per]:
            dst = folder / g / src.name
            if not dst.exists():
                os.link(src, dst)
    return folder


def tree_memory(proc: psutil.Process) -> tuple[int, int]:
    """(RSS, PSS) in bytes of ``proc`` and all its descendants (processes that vanish count 0)."""
    rss = pss = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for p in procs:
        try:
            full = p.memory_full_info()
            rss += full.rss
            pss += getattr(full, "pss", full.rss)
        except psutil.Error:
            continue
    return rss, pss


def run_one(mode: str, folder: Path, out_dir: Path) -> dict:
    """In the child: run `genrelab extract` on ``folder`` (``mode``: "1", "2" workers or "dask"); timings."""
    from genrelab.cli import main

    argv = ["genrelab", "extract", str(folder), "-o", str(out_dir / "features.csv"), "--quiet"]
    cluster, t_cluster = None, 0.0
    if mode == "dask":
        from dask.distributed import LocalCluster

        t0 = time.perf_counter()
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        t_cluster = time.perf_counter() - t0
        argv += ["--scheduler", cluster.scheduler_address]
    else:
        argv += ["--workers", mode]
    sys.argv = argv
    t0 = time.perf_counter()
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    wall = time.perf_counter() - t0
    if cluster is not None:
        cluster.close()
    return {"code": code, "wall": wall, "cluster_start": t_cluster}


def measure(mode: str, folder: Path, n_clips: int) -> dict:
    """Run one (size, mode) in a fresh child, sampling its process tree's memory."""
    with tempfile.TemporaryDirectory(prefix="genrelab-scale-out-") as tmp:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
        t0 = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, __file__, "--child", mode, str(folder), tmp],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        proc = psutil.Process(child.pid)
        peak_rss = peak_pss = 0
        while child.poll() is None:
            rss, pss = tree_memory(proc)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(0.1)
        out, err = child.communicate()
        total = time.perf_counter() - t0
        if child.returncode != 0:
            raise SystemExit(f"child failed ({mode}, {folder}): {err[-2000:]}")
        res = json.loads(out.strip().splitlines()[-1])
        if res["code"] != 0:
            raise SystemExit(f"genrelab extract exited {res['code']} ({mode}, {folder}): {err[-2000:]}")
        rows = sum(1 for _ in open(Path(tmp) / "features.csv")) - 1
    return {
        "mode": mode,
        "clips": n_clips,
        "rows": rows,
        "wall": res["wall"],
        "child_total": total,
        "cluster_start": res["cluster_start"],
        "rss": peak_rss,
        "pss": peak_pss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000], help="clip counts (multiples of 10)")
    parser.add_argument("--modes", nargs="+", default=["1", "2", "dask"], help="1, 2 (local workers) and/or dask")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each synthesised clip")
    parser.add_argument(
        "--corpus", type=Path, default=Path(tempfile.gettempdir()) / "genrelab-scale-corpus", help="synth folder"
    )
    parser.add_argument("--child", nargs=3, metavar=("MODE", "FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, folder, out = args.child
        print(json.dumps(run_one(mode, Path(folder), Path(out))))
        return
    if any(s % len(GENRES) or s <= 0 for s in args.sizes):
        parser.error(f"--sizes {args.sizes}: each must be a positive multiple of {len(GENRES)}")
    per = max(args.sizes) // len(GENRES)
    corpus = args.corpus / f"{args.seconds:g}s"
    t0 = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        n = sum(pool.map(synth_genre, [corpus] * len(GENRES), GENRES, [per] * len(GENRES), [args.seconds] * 10))
    print(f"corpus: {n} synthesised clips of {args.seconds:g} s at 22050 Hz in {corpus} ({time.perf_counter() - t0:.0f} s)")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    rows = []
    for size in sorted(args.sizes):
        folder = size_folder(corpus, size)
        for mode in args.modes:
            r = measure(mode, folder, size)
            rows.append(r)
            print(f"  {size} clips, {mode}: {r['clips'] / r['wall']:.1f} clips/s, peak RSS {r['rss'] / 2**20:.0f} MiB", flush=True)
    print(f"\n`genrelab extract` on synthesised {args.seconds:g} s clips; memory: peak over the whole process tree\n")
    print("| clips | mode | rows | wall s | clips/s | child s (incl. start-up) | peak RSS MiB (sum) | peak PSS MiB (sum) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        label = {"1": "1 worker", "2": "2 workers", "dask": "Dask LocalCluster 2x1"}.get(r["mode"], r["mode"])
        extra = f" (+{r['cluster_start']:.1f} s cluster start)" if r["mode"] == "dask" else ""
        print(
            f"| {r['clips']} | {label} | {r['rows']} | {r['wall']:.1f} | {r['clips'] / r['wall']:.1f} | "
            f"{r['child_total']:.1f}{extra} | {r['rss'] / 2**20:.0f} | {r['pss'] / 2**20:.0f} |"
        )
    lo, hi = min(args.sizes), max(args.sizes)
    if lo != hi:
        print()
        for mode in args.modes:
            a = next(r for r in rows if r["mode"] == mode and r["clips"] == lo)
            b = next(r for r in rows if r["mode"] == mode and r["clips"] == hi)
            print(
                f"{mode}: peak PSS {hi} vs {lo} clips: {100 * (b['pss'] / a['pss'] - 1):+.1f} %, "
                f"RSS {100 * (b['rss'] / a['rss'] - 1):+.1f} % (flat: within 10 %)"
            )


if __name__ == "__main__":
    main()
