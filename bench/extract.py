"""Feature-extraction benchmark: librosa per-feature calls vs librosa with one STFT vs genrelab.

    .venv/bin/python bench/extract.py [--workers N] [--synthetic K] [--repeat R] [--quick]

The same decoded clips (the ten real GTZAN .au clips from ../shared/gtzan/genres, plus K
synthetic 30 s clips) go three ways, each with the same number of worker processes and one
BLAS/FFT/numba thread per process:

  (a) librosa, one call per feature, as GTZAN notebooks write it (each call recomputes its STFT)
  (b) librosa with one shared STFT (a careful librosa user)
  (c) genrelab's fused engine

for the source study's feature subset (chroma, RMS, centroid, bandwidth, rolloff, ZCR, MFCC)
and for the full 57 features (HPSS and tempo included). Decoding is done once up front and
not timed. Prints a markdown table of clips/s (wall) and CPU ms per clip, with the speed-ups
over (a), and the largest disagreement of (b) and (c) with (a).

This machine is a VM whose speed drifts by tens of percent over seconds, so the paths are
interleaved (clip by clip with one worker, path by path with several) over ``--repeat``
rounds, and each path keeps its fastest round.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SR = 22050
PATHS = ("librosa per-feature", "librosa shared STFT", "genrelab")


def _method(name: str):
    from genrelab.features.engine import extract_features
    from genrelab.features.reference import reference_features, shared_stft_features

    if name == PATHS[0]:
        return reference_features
    if name == PATHS[1]:
        return shared_stft_features
    return lambda y, subset: extract_features(y, subset=subset)[0]


def _work(args: tuple[str, bool, np.ndarray]) -> tuple[dict[str, float], float]:
    name, subset, y = args
    t = time.process_time()
    feats = _method(name)(y, subset=subset)
    return feats, time.process_time() - t


def _warm() -> None:
    """Compile numba kernels (genrelab's and librosa's) before anything is timed."""
    y = (0.1 * np.random.default_rng(0).standard_normal(4 * SR)).astype(np.float32)
    for name in PATHS:
        for subset in (True, False):
            _work((name, subset, y))


def _synthetic(k: int) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    t = np.arange(30 * SR) / SR
    out = []
    for i in range(k):
        f0 = 110 * 2 ** (rng.integers(0, 24) / 12)
        y = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3, 5))
        beat = (np.sin(2 * np.pi * rng.uniform(1.5, 3) * t) > 0.8) * rng.standard_normal(t.size)
        y = 0.2 * y / 2 + 0.3 * beat
        out.append((f"synthetic.{i:05d}", (0.9 * y / np.abs(y).max()).astype(np.float32)))
    return out


def _load(clips_dir: Path, n_synthetic: int, quick: bool) -> list[tuple[str, np.ndarray]]:
    from genrelab.audio import load

    clips = [(p.stem, load(p, sr=SR)) for p in sorted(clips_dir.glob("*/*.au"))] if clips_dir.is_dir() else []
    if not clips:
        print(f"(no real clips under {clips_dir}; using synthetic clips only)")
        n_synthetic = max(n_synthetic, 4)
    clips += _synthetic(n_synthetic)
    return clips[:3] if quick else clips


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=Path, default=REPO.parent / "shared" / "gtzan" / "genres")
    ap.add_argument("--synthetic", type=int, default=0, help="extra synthetic 30 s clips")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="rounds over all paths; each path's best round is kept")
    ap.add_argument("--quick", action="store_true", help="3 clips, 1 run")
    args = ap.parse_args(argv)
    repeat = 1 if args.quick else args.repeat

    clips = _load(args.clips, args.synthetic, args.quick)
    seconds = sum(y.size for _, y in clips) / SR
    pool = ProcessPoolExecutor(args.workers, initializer=_warm) if args.workers > 1 else None
    if pool is None:
        _warm()
    else:
        list(pool.map(_work, [(PATHS[2], True, clips[0][1])] * args.workers))  # start every worker

    rows = []
    for subset in (True, False):
        results: dict[str, list[dict[str, float]]] = {}
        best = {name: (np.inf, np.inf) for name in PATHS}
        for _ in range(repeat):  # rounds interleave the paths, so a slow spell of the machine hits all of them
            if pool is None:  # one process: interleave clip by clip (a, b, c on clip 1, then on clip 2, ...)
                walls, cpus = dict.fromkeys(PATHS, 0.0), dict.fromkeys(PATHS, 0.0)
                outs: dict[str, list] = {name: [] for name in PATHS}
                for _, y in clips:
                    for name in PATHS:
                        t = time.perf_counter()
                        feats, cpu = _work((name, subset, y))
                        walls[name] += time.perf_counter() - t
                        cpus[name] += cpu
                        outs[name].append(feats)
                for name in PATHS:
                    best[name] = (min(best[name][0], walls[name]), min(best[name][1], cpus[name]))
                    results[name] = outs[name]
                continue
            for name in PATHS:
                jobs = [(name, subset, y) for _, y in clips]
                t = time.perf_counter()
                out = list(pool.map(_work, jobs))
                wall = time.perf_counter() - t
                cpu = sum(c for _, c in out)
                best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
                results[name] = [f for f, _ in out]
        for name in PATHS:
            best_wall, best_cpu = best[name]
            rows.append((("subset (7 groups)" if subset else "full 57"), name, len(clips) / best_wall,
                         1e3 * best_cpu / len(clips), results[name]))
            print(f"  {rows[-1][0]:18s} {name:20s} {rows[-1][2]:7.2f} clips/s", file=sys.stderr)
    if pool:
        pool.shutdown()

    print(f"\n{len(clips)} clips ({seconds:.0f} s of audio), {args.workers} worker process(es), one thread each; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; best of {repeat}\n")
    print("| features | path | clips/s | CPU ms/clip | speed-up (wall) | speed-up (CPU) | max rel. diff vs (a) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for i, (fs, name, cps, cpu, feats) in enumerate(rows):
        base = rows[i - i % 3]
        diff = max(abs(f[c] - g[c]) / max(abs(g[c]), 1e-12)
                   for f, g in zip(feats, base[4]) for c in g if not c.endswith(("harmony_mean", "perceptr_mean"))
                   and not (c.startswith("mfcc") and c.endswith("_mean")))
        print(f"| {fs} | {name} | {cps:.2f} | {cpu:.0f} | {cps / base[2]:.1f}x | {base[3] / cpu:.1f}x | {diff:.1e} |")
    print("\n(max rel. diff leaves out the near-zero means: harmony/perceptr/MFCC means)")


if __name__ == "__main__":
    main()
