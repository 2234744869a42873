"""Benchmark: ``dense`` (genrelab train defaults) vs scikit-learn baselines on the GTZAN feature CSV.

Same splits for every model (genrelab.data.make_splits): random stratified 70/30 over
``--seeds`` seeds (32, 33, ...), and the fault-filtered split (train+valid lists -> test list)
trained ``--seeds`` times with initialisation seeds 32, 33, ... (SVC is deterministic).
Baselines: StandardScaler + SVC (RBF, defaults) and StandardScaler + MLPClassifier
(one hidden layer of 256, alpha=1, max_iter=500). Torch and BLAS run on ``--threads`` threads.
Prints a markdown table (accuracy mean ± std) and the time each model took.

    .venv/bin/python bench/classify_csv.py [--csv ../shared/gtzan/features_30_sec.csv] [--seeds 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "gtzan" / "features_30_sec.csv")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)

    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from genrelab.classify import log_columns_of, train_config_for
    from genrelab.data import make_splits, track_id_of
    from genrelab.features import FEATURE_COLUMNS
    from genrelab.models import build_model
    from genrelab.train import deterministic, fit, predict_proba

    df = pd.read_csv(args.csv)
    x = df[FEATURE_COLUMNS].to_numpy(np.float32)
    labels = sorted(df["label"].unique())
    y = np.searchsorted(labels, df["label"].to_numpy())
    tracks = [track_id_of(f) for f in df["filename"]]

    def dense(tr, te, seed):
        with deterministic(seed):
            m = build_model("dense", n_features=x.shape[1], n_classes=len(labels), log_columns=log_columns_of(FEATURE_COLUMNS))
        m.set_normalisation(torch.from_numpy(x[tr]))
        fit(m, x[tr], y[tr], config=train_config_for("dense"), groups=np.asarray(tracks)[tr], seed=seed, progress=False)
        return predict_proba(m, x[te]).argmax(1)

    def svc(tr, te, seed):
        return make_pipeline(StandardScaler(), SVC()).fit(x[tr], y[tr]).predict(x[te])

    def mlp(tr, te, seed):
        clf = MLPClassifier(hidden_layer_sizes=(256,), alpha=1.0, max_iter=500, random_state=seed)
        return make_pipeline(StandardScaler(), clf).fit(x[tr], y[tr]).predict(x[te])

    models = {"dense (genrelab)": dense, "StandardScaler+SVC": svc, "StandardScaler+MLPClassifier": mlp}
    protocols = {f"random 70/30, {args.seeds} seeds": [make_splits("random:0.3", tracks, df["label"], seed=32 + s)[0] for s in range(args.seeds)],
                 f"fault-filtered (640 -> 290), {args.seeds} init seeds": make_splits("fault-filtered", tracks, df["label"]) * args.seeds}
    rows = {}
    for pname, splits in protocols.items():
        for mname, f in models.items():
            t0 = time.perf_counter()
            accs = [float((f(sp.train, sp.test, 32 + i) == y[sp.test]).mean()) for i, sp in enumerate(splits)]
            rows[(pname, mname)] = (np.mean(accs), np.std(accs), time.perf_counter() - t0)
            print(f"  {pname:30s} {mname:30s} {np.mean(accs):.3f} ± {np.std(accs):.3f} {accs}", flush=True)
    print(f"\n{args.csv.name}, {len(df)} rows; torch threads {args.threads}\n")
    print("| model | " + " | ".join(protocols) + " | time (s) |")
    print("|---|" + "---|" * (len(protocols) + 1))
    for mname in models:
        cells = [f"{100 * rows[(p, mname)][0]:.1f} ± {100 * rows[(p, mname)][1]:.1f} %" for p in protocols]
        total = sum(rows[(p, mname)][2] for p in protocols)
        print(f"| {mname} | " + " | ".join(cells) + f" | {total:.1f} |")
    ratio = rows[(list(protocols)[1], "dense (genrelab)")][0] / rows[(list(protocols)[1], "StandardScaler+SVC")][0]
    print(f"\nfault-filtered accuracy ratio dense / SVC: {ratio:.2f}")


if __name__ == "__main__":
    main()
