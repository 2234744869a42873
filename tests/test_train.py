"""The training loop and the metrics: determinism, validation split by track, early stopping, metric invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import classification_report, f1_score

from genrelab.errors import ParameterError
from genrelab.metrics import metrics_from_confusion, split_scores, summarise, track_proba
from genrelab.models import build_model
from genrelab.train import TrainConfig, fit, group_holdout, predict_proba


def _blobs(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, 57)).astype(np.float32) + y[:, None].astype(np.float32)
    return x, y


def _dense(x):
    m = build_model("dense", n_features=57, n_classes=3, hidden=[16], members=2)
    m.set_normalisation(torch.from_numpy(x))
    return m


def test_same_seed_same_result_different_seed_differs():
    x, y = _blobs()
    cfg = TrainConfig(epochs=5, batch_size=8, lr=1e-2, val_fraction=0.2)
    runs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)  # the model's own initialisation
        m = _dense(x)
        res = fit(m, x, y, config=cfg, seed=seed, progress=False)
        runs.append((res.history, predict_proba(m, x)))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][0] != runs[2][0]


def test_history_rows_and_validation_keys():
    x, y = _blobs()
    res = fit(_dense(x), x, y, config=TrainConfig(epochs=3, batch_size=16, lr=1e-2, val_fraction=0.25), progress=False)
    assert [h["epoch"] for h in res.history] == [1, 2, 3]
    for h in res.history:
        assert set(h) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc"}
        assert 0 <= h["train_acc"] <= 1 and 0 <= h["val_acc"] <= 1
    res = fit(_dense(x), x, y, config=TrainConfig(epochs=2, batch_size=16, lr=1e-2), progress=False)
    assert all(h["val_loss"] is None for h in res.history)


def test_validation_part_never_shares_a_track():
    rng = np.random.default_rng(1)
    groups = np.repeat([f"g{i:02d}" for i in range(30)], 4)  # 30 tracks x 4 segments
    labels = np.repeat(rng.integers(0, 3, 30), 4)
    fit_idx, val_idx = group_holdout(groups, labels, 0.2, seed=0)
    assert len(fit_idx) + len(val_idx) == len(groups)
    assert not set(groups[fit_idx]) & set(groups[val_idx])
    assert set(labels[val_idx]) == set(labels)  # each label has some validation tracks


def test_early_stopping_on_unlearnable_labels_restores_best():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 57)).astype(np.float32)
    y = rng.integers(0, 3, 80)
    m = _dense(x)
    res = fit(m, x, y, config=TrainConfig(epochs=200, batch_size=16, lr=3e-2, val_fraction=0.3, patience=3),
              seed=0, progress=False)
    assert res.stopped_early and len(res.history) < 200
    assert len(res.history) - res.best_epoch == 3
    best = min(h["val_loss"] for h in res.history)
    assert res.history[res.best_epoch - 1]["val_loss"] == best


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(batch_size=0), dict(lr=-1.0), dict(schedule="warp"),
                                 dict(val_fraction=1.0), dict(patience=0)])
def test_bad_training_options(bad):
    with pytest.raises(ParameterError):
        TrainConfig(**bad)
    with pytest.raises(ParameterError, match="unknown training options"):
        TrainConfig.from_dict({"momentum": 0.9})


def test_metrics_from_confusion_match_sklearn():
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c", "d"]
    yt = rng.integers(0, 4, 200)
    yp = np.where(rng.random(200) < 0.6, yt, rng.integers(0, 4, 200))
    from genrelab.metrics import confusion

    cm = confusion(yt, yp, n_classes=4)
    m = metrics_from_confusion(cm, labels)
    ref = classification_report(yt, yp, labels=range(4), target_names=labels, output_dict=True, zero_division=0)
    for lab in labels:
        for key in ("precision", "recall", "f1-score"):
            assert m["per_class"][lab][key.split("-")[0]] == pytest.approx(ref[lab][key], abs=1e-12)
        assert m["per_class"][lab]["support"] == ref[lab]["support"]
    assert m["accuracy"] == pytest.approx(np.trace(cm) / cm.sum(), abs=1e-12)
    assert m["macro_f1"] == pytest.approx(f1_score(yt, yp, average="macro"), abs=1e-12)
    assert [sum(r) for r in m["confusion_matrix"]] == [m["per_class"][l]["support"] for l in labels]


def test_summarise_pools_confusion_and_averages_accuracy():
    labels = ["a", "b"]
    proba1 = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    y1 = np.array([0, 1, 1])
    proba2 = np.array([[0.3, 0.7], [0.1, 0.9]])
    y2 = np.array([0, 1])
    from genrelab.metrics import confusion

    s = [split_scores(y1, proba1), split_scores(y2, proba2)]
    cm = confusion(y1, proba1.argmax(1), n_classes=2) + confusion(y2, proba2.argmax(1), n_classes=2)
    out = summarise(s, cm, labels)
    assert out["accuracy"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert out["accuracy_std"] == pytest.approx(np.std([2 / 3, 1 / 2]))
    assert out["pooled_accuracy"] == pytest.approx(3 / 5)
    assert sum(map(sum, out["confusion_matrix"])) == 5


def test_track_proba_means_segments():
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.2, 0.8], [0.6, 0.4]])
    tp, ty, ids = track_proba(proba, ["t1", "t1", "t2", "t2"], np.array([0, 0, 1, 1]))
    assert list(ids) == ["t1", "t2"] and list(ty) == [0, 1]
    np.testing.assert_allclose(tp, [[0.6, 0.4], [0.4, 0.6]])
    with pytest.raises(ParameterError, match="different labels"):
        track_proba(proba, ["t1", "t1", "t2", "t2"], np.array([0, 1, 1, 1]))
