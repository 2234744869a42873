"""Benchmark: what padding a clip shorter than the cnn's 3 s window costs (reflect, repeat, zeros).

Protocol, on the ten real GTZAN clips in ``../shared/gtzan/genres`` (one per genre):

- train a small ``cnn`` (channels 16/32/64, ``genrelab.classify.train_classifiers``, 20 epochs,
  no validation split) on 3 s MFCC maps of the first 15 s of each clip (a window every 0.5 s,
  25 per clip), ``--seeds`` times with initialisation seeds 32, 33, ...;
- cut excerpts of ``--lengths`` seconds from the last 15 s (which no model saw), one every
  second from 15 s on, pad each to the model's 3 s window by each mode
  (:func:`genrelab.features.lengths.pad_to`, then the MFCCs, as ``predict`` and ``extract`` do);
- score (a) *agreement*: the padded excerpt's top genre equals the top genre of the full 3 s
  window at the same start, and (b) *accuracy* against the clip's true genre; the full-window
  accuracy is the ceiling. Numbers are the mean over seeds of the share over excerpts.

One clip per genre means the model learns those ten tracks, not genres: the accuracy column
says how close the padded map stays to the track it came from, which is what padding can
spoil. Prints a markdown table.

    .venv/bin/python bench/short_clips.py [--seeds 3] [--lengths 2 2.5]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

GTZAN = Path(__file__).resolve().parents[1].parent / "shared" / "gtzan" / "genres"
SR = 22050


def _maps_of(clips: dict[str, np.ndarray], *, start: float, stop: float, step: float):
    """Training maps: 3 s windows of ``[start, stop)`` of each clip, one every ``step`` seconds."""
    from genrelab.features import MapSet, mfcc

    maps, names, labels = [], [], []
    for label, y in clips.items():
        for k, t in enumerate(np.arange(start, stop - 3.0 + 1e-9, step)):
            a = int(round(t * SR))
            maps.append(mfcc(y[a : a + 3 * SR]))
            names.append(f"{label}.{len(names):05d}.wav")
            labels.append(label)
    n = len(maps)
    return MapSet(
        maps=np.stack(maps),
        filename=np.array(names),
        track=np.array([f"{lab}.{i:05d}" for i, lab in enumerate(labels)]),  # one "track" per window
        label=np.array(labels),
        segment=np.zeros(n, dtype=int),
        segment_seconds=3.0,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--lengths", type=float, nargs="+", default=[2.0, 2.5])
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    if not GTZAN.is_dir():
        raise SystemExit(f"{GTZAN} is absent: this benchmark needs the ten real GTZAN clips")
    import torch

    torch.set_num_threads(1)
    from genrelab.audio import load
    from genrelab.classify import Classifier, train_classifiers
    from genrelab.features import FEATURE_COLUMNS, FeatureSet, mfcc
    from genrelab.features.lengths import PAD_MODES, pad_to

    clips = {p.parent.name: load(p, sr=SR) for p in sorted(GTZAN.glob("*/*.au"))}
    labels = sorted(clips)
    maps = _maps_of(clips, start=0.0, stop=15.0, step=0.5)
    table = pd.DataFrame(columns=["filename", "length", *FEATURE_COLUMNS, "label"])
    fs = FeatureSet(table=table, maps=maps, clips=None, skipped=pd.DataFrame(columns=["path", "reason"]))
    starts = np.arange(15.0, 27.0, 1.0)
    score: dict[tuple[float, str], list[tuple[float, float]]] = {}
    full_acc: list[float] = []
    for seed in range(32, 32 + args.seeds):
        with tempfile.TemporaryDirectory() as run:
            train_classifiers(fs, ["cnn"], run, split="random:0.2", epochs=args.epochs, seed=seed, progress=False,
                              plots=False, model_config={"cnn": {"channels": [16, 32, 64], "hidden": 32}},
                              train_config={"cnn": {"val_fraction": 0.0}})
            clf = Classifier.load(Path(run), "cnn")
        need = (int(clf.frames) - 1) * 512
        full, truth = [], []
        for label, y in clips.items():
            for t in starts:
                a = int(round(t * SR))
                full.append(mfcc(y[a : a + 3 * SR]))
                truth.append(labels.index(label))
        full_pred = clf.proba(np.stack(full)).argmax(1)
        truth_arr = np.array(truth)
        full_acc.append(float((full_pred == truth_arr).mean()))
        for length in args.lengths:
            for mode in PAD_MODES:
                x = []
                for y in clips.values():
                    for t in starts:
                        a = int(round(t * SR))
                        x.append(mfcc(pad_to(y[a : a + int(round(length * SR))], need, mode=mode)))
                pred = clf.proba(np.stack(x)).argmax(1)
                score.setdefault((length, mode), []).append(
                    (float((pred == full_pred).mean()), float((pred == truth_arr).mean()))
                )
    n = len(starts) * len(clips)
    print(f"cnn on {n} excerpts per length from the unseen last 15 s of the 10 real GTZAN clips, "
          f"mean of {args.seeds} seeds; full 3 s windows: accuracy {np.mean(full_acc):.3f}\n")
    print("| excerpt | padding | agreement with the full 3 s window | accuracy (true genre) |")
    print("| --- | --- | --- | --- |")
    for (length, mode), vals in score.items():
        agree, acc = np.mean(vals, axis=0)
        print(f"| {length:g} s | {mode} | {agree:.3f} | {acc:.3f} |")


if __name__ == "__main__":
    main()
