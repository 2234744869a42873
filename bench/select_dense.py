"""Selection score for ``dense`` settings on the fault-filtered *training* part only.

How ``dense``'s defaults are chosen without touching the fault-filtered test list: for each
initialisation seed, the mean of

- ``valid``: fit on the train list (443 tracks), score on the valid list (197, other artists);
- ``gcv``: 5-fold stratified *artist-grouped* cross-validation over train + valid (640 tracks),
  artists from the Foleis 3-fold split's group files (``splits/foleiss_3fold/*_groups.txt``;
  the 36 tracks without an artist id form groups of one). No artist is on both sides of a fold,
  as in the test condition; a plain stratified k-fold over these rows would reward memorising
  artists (it scores ~76 % where artist-disjoint folds score ~58 %).

The test list is read only to assert that none of its tracks is used. Settings are a JSON
object with ``model`` (DenseNet config) and ``train`` (TrainConfig) overrides, as
``genrelab train`` applies them. One thread, so two settings can run side by side.

    .venv/bin/python bench/select_dense.py '{"model": {"mixup": 1.0}}' [--seeds 32,33] [--name NAME] [--log FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import torch

GTZAN = Path(__file__).resolve().parents[1].parent / "shared" / "gtzan"


def artist_ids(folder: Path) -> dict[str, int]:
    """Track id (``blues.00012``) -> Foleis artist id, from every ``f*_groups.txt`` in ``folder``."""
    from genrelab.data import track_id_of

    ids: dict[str, int] = {}
    for path in sorted(folder.glob("f*_groups.txt")):
        for line in path.read_text().splitlines():
            if line.strip():
                name, group = line.split()
                ids[track_id_of(Path(name).name.replace("_", ".", 1))] = int(group)
    if not ids:
        raise SystemExit(f"no artist group files (f*_groups.txt) in {folder}")
    return ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("settings", nargs="?", default="{}", help="JSON: {\"model\": {...}, \"train\": {...}}")
    ap.add_argument("--name", default="")
    ap.add_argument("--seeds", default="32,33")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--csv", type=Path, default=GTZAN / "features_30_sec.csv")
    ap.add_argument("--groups", type=Path, default=GTZAN / "splits" / "foleiss_3fold")
    ap.add_argument("--log", type=Path, default=None, help="append the result line to this markdown file")
    args = ap.parse_args()
    if not args.csv.is_file():
        raise SystemExit(f"feature table not found: {args.csv} (needs ../shared/gtzan beside the project, or --csv)")
    try:
        settings = json.loads(args.settings)
    except json.JSONDecodeError as err:
        raise SystemExit(f"settings must be a JSON object such as '{{\"model\": {{\"mixup\": 1.0}}}}': {err}")
    torch.set_num_threads(1)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    from sklearn.model_selection import StratifiedGroupKFold

    from genrelab.classify import new_model as _new_model, train_config_for
    from genrelab.data import track_id_of
    from genrelab.data.splits import fault_filtered_lists
    from genrelab.features import FEATURE_COLUMNS
    from genrelab.models import get_spec
    from genrelab.train import deterministic, fit, predict_proba

    df = pd.read_csv(args.csv)
    x = df[FEATURE_COLUMNS].to_numpy(np.float32)
    labels = sorted(df["label"].unique())
    y = np.searchsorted(labels, df["label"].astype(str).to_numpy())
    tracks = np.array([track_id_of(f) for f in df["filename"]])
    lists = fault_filtered_lists()
    train_rows = np.flatnonzero([t in lists["train"] for t in tracks])
    valid_rows = np.flatnonzero([t in lists["valid"] for t in tracks])
    part = np.sort(np.concatenate([train_rows, valid_rows]))  # (640,) the training part
    assert not set(tracks[part]) & lists["test"], "a test-list track in the training part"
    ids = artist_ids(args.groups)
    groups = np.array([ids.get(t, 100_000 + i) for i, t in enumerate(tracks)])  # no id: a group of one
    spec = get_spec("dense")
    tcfg = train_config_for("dense", overrides=settings.get("train"))

    def accuracy(train: np.ndarray, test: np.ndarray, seed: int) -> float:
        with deterministic(seed):
            model = _new_model(spec, x[train], len(labels), dict(settings.get("model", {})), FEATURE_COLUMNS)
        fit(model, x[train], y[train], config=tcfg, groups=tracks[train], seed=seed, progress=False)
        return float((predict_proba(model, x[test]).argmax(1) == y[test]).mean())

    t0 = time.perf_counter()
    per_seed = []
    for seed in (int(s) for s in args.seeds.split(",")):
        valid = accuracy(train_rows, valid_rows, seed)
        folds = StratifiedGroupKFold(args.folds, shuffle=True, random_state=seed).split(part, y[part], groups[part])
        gcv = float(np.mean([accuracy(part[i], part[j], seed) for i, j in folds]))
        per_seed.append((seed, valid, gcv))
    score = float(np.mean([(v + g) / 2 for _, v, g in per_seed]))
    detail = "; ".join(f"seed {s}: valid {100 * v:.1f} gcv {100 * g:.1f}" for s, v, g in per_seed)
    line = f"| {args.name or '-'} | `{json.dumps(settings)}` | **{100 * score:.2f}** | {detail} | {time.perf_counter() - t0:.0f} s |"
    print(line, flush=True)
    if args.log:
        with args.log.open("a") as fh:
            fh.write(line + "\n")


if __name__ == "__main__":
    main()
