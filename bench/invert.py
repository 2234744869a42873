"""Benchmark genrelab.invert.mfcc_to_audio against librosa.feature.inverse.mfcc_to_audio.

Both invert the same MFCCs (librosa.feature.mfcc, n_mfcc=20, n_mels=128, n_fft=2048, hop 512,
n_iter=32) in one run; the table gives seconds per clip, the speed-up and the MFCC round-trip
error ||mfcc(audio) - mfcc|| / ||mfcc|| of each (mean over the clips of a case), and the error
of genrelab with ``refine=0`` (plain fast Griffin-Lim, librosa's algorithm).

    .venv/bin/python bench/invert.py            # 3 real 30 s clips, a batch of 8 x 3 s, synthetic
    .venv/bin/python bench/invert.py --quick    # 1 real 10 s clip, a batch of 4 x 3 s, synthetic 3 s
    .venv/bin/python bench/invert.py --threads 2,1 --busy   # each thread count, quiet and one core busy
    .venv/bin/python bench/invert.py --quick --threads 2,1 --busy   # a short check of the same

Real clips come from ../shared/gtzan/genres (skipped when absent). Torch threads are left as
set (``--threads N`` sets them; ``--threads 2,1`` times genrelab at each count); librosa runs with
numpy's own threading. With ``--busy`` every case is timed twice: quiet, then with a separate
spinning Python process keeping one core busy (another user's job). The machine is a VM whose
speed drifts, so librosa and genrelab alternate over ``--repeat`` rounds and each keeps its
fastest; errors are from the last round.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import genrelab  # noqa: F401  (before torch: sets OMP_WAIT_POLICY=PASSIVE)
import librosa
import numpy as np
import torch

from genrelab.audio import load
from genrelab.invert import mel_to_magnitude, mfcc_to_audio, mfcc_to_mel

SR, N_FFT, HOP, N_MELS, N_MFCC, N_ITER = 22050, 2048, 512, 128, 20, 32
GTZAN = Path(__file__).resolve().parents[1].parent / "shared" / "gtzan" / "genres"
REAL = ("blues", "classical", "metal", "pop", "jazz", "rock", "disco", "hiphop", "country", "reggae")


def mfcc_of(y: np.ndarray) -> np.ndarray:
    """``y [shape=(n,)]`` -> ``[shape=(N_MFCC, frames)]`` with the inversion's settings."""
    return librosa.feature.mfcc(y=y, sr=SR, n_mfcc=N_MFCC, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)


def round_trip(y: np.ndarray, m: np.ndarray) -> float:
    """||mfcc(y) - m|| / ||m||."""
    return float(np.linalg.norm(mfcc_of(y) - m) / np.linalg.norm(m))


def synthetic(kind: str, seconds: float, seed: int = 0) -> np.ndarray:
    """A chord, white noise or a click train, float32 at SR."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    if kind == "chord":
        y = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate((220.0, 277.2, 329.6, 440.0, 659.3)))
    elif kind == "noise":
        y = rng.standard_normal(t.size)
    elif kind == "clicks":
        y = np.zeros(t.size)
        y[:: SR // 4] = 1.0
        y = np.convolve(y, np.exp(-np.arange(200) / 20.0))[: t.size]
    else:
        raise ValueError(kind)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


@contextmanager
def busy_core(on: bool):
    """While active (and ``on``), a separate Python process spins on one core."""
    if not on:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it get going
        yield
    finally:
        spinner.kill()
        spinner.wait()


def set_up(mfccs: list[np.ndarray], batched: bool) -> None:
    """The inversion's set-up alone (inverse DCT, NNLS mel -> magnitude), as mfcc_to_audio runs it."""
    for m in [np.stack(mfccs)] if batched else [m[None] for m in mfccs]:
        mel_to_magnitude(mfcc_to_mel(torch.from_numpy(m)), sr=SR, n_fft=N_FFT)


def run_case(name: str, mfccs: list[np.ndarray], batched: bool, threads: list[int], repeat: int = 2) -> list[dict]:
    """Time librosa clip by clip and ours (one batch call or clip by clip, at each torch thread count)
    on the same MFCCs, in ``repeat`` interleaved rounds (librosa, then ours at each count, then ours'
    set-up alone at each count); each keeps its fastest round. One row per thread count."""
    for t in threads:  # warm-up: mel basis, pseudo-inverse, numba kernels, every thread's FFTW plans
        torch.set_num_threads(t)
        mfcc_to_audio(mfccs[0][:, :400])
        mfcc_to_audio(np.stack([mfccs[0][:, :16]] * 4))
    t_lib = c_lib = np.inf
    t_ours = dict.fromkeys(threads, np.inf)
    c_ours = dict.fromkeys(threads, np.inf)
    t_setup = dict.fromkeys(threads, np.inf)
    ys: dict[int, list[np.ndarray]] = {}
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        ys_lib = [librosa.feature.inverse.mfcc_to_audio(m, n_mels=N_MELS, n_fft=N_FFT, hop_length=HOP, n_iter=N_ITER)
                  for m in mfccs]
        t_lib = min(t_lib, (time.perf_counter() - t0) / len(mfccs))
        c_lib = min(c_lib, (time.process_time() - c0) / len(mfccs))
        for t in threads:
            torch.set_num_threads(t)
            t0, c0 = time.perf_counter(), time.process_time()
            if batched:
                ys[t] = list(mfcc_to_audio(np.stack(mfccs), n_iter=N_ITER, n_mels=N_MELS))
            else:
                ys[t] = [mfcc_to_audio(m, n_iter=N_ITER, n_mels=N_MELS) for m in mfccs]
            t_ours[t] = min(t_ours[t], (time.perf_counter() - t0) / len(mfccs))
            c_ours[t] = min(c_ours[t], (time.process_time() - c0) / len(mfccs))
            t0 = time.perf_counter()
            set_up(mfccs, batched)
            t_setup[t] = min(t_setup[t], (time.perf_counter() - t0) / len(mfccs))
    ys_plain = [mfcc_to_audio(m, n_iter=N_ITER, n_mels=N_MELS, refine=0) for m in mfccs]
    err_lib = np.mean([round_trip(y, m) for y, m in zip(ys_lib, mfccs)])
    err_plain = np.mean([round_trip(y, m) for y, m in zip(ys_plain, mfccs)])
    return [{
        "case": name,
        "clips": len(mfccs),
        "threads": t,
        "t_lib": t_lib,
        "t_ours": t_ours[t],
        "c_lib": c_lib,
        "c_ours": c_ours[t],
        "t_setup": t_setup[t],
        "err_lib": err_lib,
        "err_ours": np.mean([round_trip(y, m) for y, m in zip(ys[t], mfccs)]),
        "err_plain": err_plain,
    } for t in threads]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--threads", default=None,
                        help="torch thread counts to time genrelab at, e.g. 2,1 (default: leave as is)")
    parser.add_argument("--busy", action="store_true",
                        help="time every case quiet and again with a spinning process keeping one core busy")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved timing rounds; the fastest of each is kept")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")] if args.threads else [torch.get_num_threads()]
    long_s, n_long, n_batch, syn_s = (10.0, 1, 4, 3.0) if args.quick else (30.0, 3, 8, 10.0)

    cases: list[tuple[str, list[np.ndarray], bool]] = []
    if GTZAN.is_dir():
        paths = [GTZAN / g / f"{g}.00000.au" for g in REAL]
        paths = [p for p in paths if p.is_file()]
        cases.append((f"real {long_s:g} s", [mfcc_of(load(p, duration=long_s)) for p in paths[:n_long]], False))
        cases.append((f"real batch {n_batch} x 3 s", [mfcc_of(load(p, offset=10.0, duration=3.0))
                                                        for p in paths[:n_batch]], True))
    else:
        print(f"(no real clips at {GTZAN}; synthetic only)")
    for kind in ("chord", "noise", "clicks"):
        cases.append((f"{kind} {syn_s:g} s", [mfcc_of(synthetic(kind, syn_s))], False))

    rows = []
    for busy in (False, True) if args.busy else (False,):
        with busy_core(busy):
            for c in cases:
                rows += [dict(r, load="one core busy" if busy else "quiet")
                         for r in run_case(*c, threads, repeat=1 if args.quick else args.repeat)]
    print(f"\nMFCC -> audio, n_mfcc={N_MFCC}, n_mels={N_MELS}, n_iter={N_ITER}; "
          f"librosa {librosa.__version__}, torch {torch.__version__}\n")
    print("| load | case | clips | threads | wall s/clip librosa / genrelab | wall speed-up | CPU s/clip librosa / "
          "genrelab | CPU speed-up | genrelab set-up wall s/clip | librosa error | genrelab error | "
          "genrelab refine=0 error |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['load']} | {r['case']} | {r['clips']} | {r['threads']} | {r['t_lib']:.3f} / {r['t_ours']:.3f} | "
              f"{r['t_lib'] / r['t_ours']:.1f}x | {r['c_lib']:.3f} / {r['c_ours']:.3f} | "
              f"{r['c_lib'] / r['c_ours']:.1f}x | {r['t_setup']:.4f} | "
              f"{r['err_lib']:.4f} | {r['err_ours']:.4f} | {r['err_plain']:.4f} |")
    print("\nWall seconds are what a user waits; CPU seconds (all threads of the process) are less "
          "sensitive to a busy machine. Set-up: inverse DCT + NNLS (mel -> magnitude) alone, part of the "
          "genrelab time (on one torch thread whatever the count: more threads only cost there). Errors: ||mfcc(audio) - mfcc|| / ||mfcc||, mean over the clips; "
          "librosa's Griffin-Lim starts from an unseeded random phase, so its error varies by ~1-2 % run to run.")

if __name__ == "__main__":
    main()
