"""The whole `genrelab extract` command against librosa's per-feature calls in a pool (issue #15).

    .venv/bin/python bench/extract_command.py                          # 100 x 15 s real excerpts, 2 workers
    .venv/bin/python bench/extract_command.py --excerpts 1 --seconds 30  # the ten real 30 s clips

What a user waits for, start-up included, each side a new process: (a) `genrelab extract DIR
--workers W --quiet` into an empty output folder (no feature cache), (b) a Python process that
imports librosa and computes the 57 features of every clip with librosa's per-feature calls
(what GTZAN notebooks do; the same calls as `genrelab.features.reference`, written out so this
side imports nothing of genrelab) in a `ProcessPoolExecutor` of W workers. The clips are excerpts of the ten real GTZAN clips in ../shared/gtzan (``--excerpts`` per
clip of ``--seconds`` each, at evenly spaced offsets, overlapping when they must; written as
wav: 100 clips of 15 s by default, the size of the folder #15 was measured on), read once before timing so both find them in
the page cache. Each side keeps its fastest of ``--repeat`` runs, alternating. Target (#15):
>= 12x with 2 workers.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from first_run import timed  # noqa: E402

LIBROSA_POOL = r"""
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import librosa
import numpy as np

def work(path):
    # what a GTZAN notebook does: one librosa call per feature, mean and variance of each
    y, sr = librosa.load(path, sr=22050)
    out = [len(y)]
    parts = [librosa.feature.chroma_stft(y=y, sr=sr), librosa.feature.rms(y=y),
             librosa.feature.spectral_centroid(y=y, sr=sr), librosa.feature.spectral_bandwidth(y=y, sr=sr),
             librosa.feature.spectral_rolloff(y=y, sr=sr), librosa.feature.zero_crossing_rate(y), *librosa.effects.hpss(y)]
    for x in parts:
        out += [float(np.mean(x)), float(np.var(x))]
    out.append(float(np.atleast_1d(librosa.feature.tempo(y=y, sr=sr))[0]))
    for row in librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20):
        out += [float(np.mean(row)), float(np.var(row))]
    return out

if __name__ == "__main__":
    paths = sorted(str(p) for p in Path(sys.argv[1]).rglob("*.wav"))
    with ProcessPoolExecutor(int(sys.argv[2])) as pool:
        rows = list(pool.map(work, paths))
    assert all(len(r) == 58 for r in rows), "57 features and the length per clip"
    print(len(rows))
"""


def make_folder(src: Path, dst: Path, excerpts: int, seconds: float) -> int:
    """``excerpts`` excerpts of ``seconds`` of every clip under ``src`` in ``dst/<genre>/``; returns their count."""
    import numpy as np
    import soundfile as sf

    from genrelab.audio import load

    n = 0
    size = int(round(seconds * 22050))
    for path in sorted(src.glob("*/*.au")):
        y = load(path, sr=22050)
        (dst / path.parent.name).mkdir(parents=True, exist_ok=True)
        for k, start in enumerate(np.linspace(0, max(len(y) - size, 0), excerpts).astype(int)):
            sf.write(dst / path.parent.name / f"{path.stem}.{k}.wav", y[start : start + size], 22050)
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=Path, default=REPO.parent / "shared" / "gtzan" / "genres")
    ap.add_argument("--excerpts", type=int, default=10, help="excerpts per real clip")
    ap.add_argument("--seconds", type=float, default=15.0, help="seconds per excerpt")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args(argv)
    if not a.clips.is_dir():
        raise SystemExit(f"{a.clips} does not exist: the bench needs the real GTZAN clips of ../shared/gtzan")
    genrelab = str(Path(sys.executable).with_name("genrelab"))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "clips"
        n = make_folder(a.clips, folder, a.excerpts, a.seconds)
        for p in folder.rglob("*.wav"):
            p.read_bytes()
        best = {"genrelab": float("inf"), "librosa": float("inf")}
        for r in range(a.repeat):
            out = Path(tmp) / f"out{r}" / "features.csv"
            cmd = [genrelab, "extract", str(folder), "-o", str(out), "--workers", str(a.workers), "--quiet"]
            best["genrelab"] = min(best["genrelab"], timed(cmd, env))
            best["librosa"] = min(best["librosa"], timed([sys.executable, "-c", LIBROSA_POOL, str(folder), str(a.workers)], env))
    print(f"{n} clips of {a.seconds:g} s, {a.workers} workers, best of {a.repeat} (whole command, start-up included)\n")
    print("| path | wall s | clips/s | speed-up |")
    print("|---|---:|---:|---:|")
    for name in ("librosa", "genrelab"):
        print(f"| {name} | {best[name]:.2f} | {n / best[name]:.2f} | {best['librosa'] / best[name]:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
