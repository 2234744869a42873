"""Classification metrics (numbers only, no plotting), pooled over repeats/folds; the
recreation fidelity numbers (:func:`shares`, :func:`frechet_distance`).

``metrics_from_confusion`` derives every per-class number from one confusion matrix, so the
reported supports always equal the confusion rows and ``accuracy == trace / total``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.metrics import confusion_matrix as _sk_confusion
from sklearn.metrics import f1_score

from genrelab.errors import ParameterError


def confusion(y_true: np.ndarray, y_pred: np.ndarray, *, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` int counts, rows = true class, columns = predicted."""
    return _sk_confusion(y_true, y_pred, labels=np.arange(n_classes)).astype(np.int64)


def metrics_from_confusion(cm: np.ndarray, labels: Sequence[str]) -> dict:
    """``accuracy``, ``macro_f1``, ``per_class`` {label: precision, recall, f1, support} from ``cm``.

    Precision of a never-predicted class and recall of an absent class are 0 (scikit-learn's
    ``zero_division=0``); ``macro_f1`` averages the classes with support > 0.
    """
    cm = np.asarray(cm, dtype=np.int64)
    if cm.shape != (len(labels), len(labels)):
        raise ParameterError(f"confusion matrix {cm.shape} does not match {len(labels)} labels")
    tp = np.diag(cm).astype(float)
    support = cm.sum(1)
    predicted = cm.sum(0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = support > 0
    total = int(cm.sum())
    return {
        "accuracy": float(tp.sum() / total) if total else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "per_class": {
            lab: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for lab, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
        "confusion_matrix": cm.tolist(),
    }


def split_scores(y_true: np.ndarray, proba: np.ndarray) -> dict:
    """Accuracy and macro F1 of one test set from probabilities ``(N, C)``."""
    pred = np.asarray(proba).argmax(1)
    labels_present = np.unique(y_true)
    return {
        "accuracy": float((pred == y_true).mean()),
        "macro_f1": float(f1_score(y_true, pred, labels=labels_present, average="macro", zero_division=0)),
    }


def track_proba(proba: np.ndarray, tracks: Sequence[str], y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean segment probability per track: ``(track_proba (T, C), track_y (T,), track_ids (T,))``.

    Raises ParameterError if one track carries two labels.
    """
    tracks = np.asarray(tracks)
    ids, inverse = np.unique(tracks, return_inverse=True)
    sums = np.zeros((len(ids), proba.shape[1]))
    np.add.at(sums, inverse, proba)
    counts = np.bincount(inverse, minlength=len(ids))
    ty = np.full(len(ids), -1)
    for row, t in enumerate(inverse):
        if ty[t] not in (-1, y[row]):
            raise ParameterError(f"track {ids[t]!r} has rows with different labels")
        ty[t] = y[row]
    return sums / counts[:, None], ty, ids


def summarise(per_split: list[dict], cm: np.ndarray, labels: Sequence[str]) -> dict:
    """Combine per-split scores and a pooled confusion matrix into the metrics dict.

    ``accuracy``/``macro_f1`` are means over splits (``*_std`` their population std);
    ``per_class`` and ``confusion_matrix`` are from the confusion matrix pooled (summed) over
    the splits' test sets, so ``pooled_accuracy == trace / total`` of it.
    """
    pooled = metrics_from_confusion(cm, labels)
    acc = np.array([s["accuracy"] for s in per_split])
    f1 = np.array([s["macro_f1"] for s in per_split])
    out = {
        "accuracy": float(acc.mean()),
        "accuracy_std": float(acc.std()),
        "macro_f1": float(f1.mean()),
        "macro_f1_std": float(f1.std()),
        "pooled_accuracy": pooled["accuracy"],
        "per_class": pooled["per_class"],
        "labels": list(labels),
        "confusion_matrix": pooled["confusion_matrix"],
        "confusion_matrix_pooling": f"summed over the test sets of all {len(per_split)} split(s)",
        "split_accuracy": acc.tolist(),
    }
    if all("track_accuracy" in s for s in per_split) and per_split:
        tacc = np.array([s["track_accuracy"] for s in per_split])
        out["track_accuracy"] = float(tacc.mean())
        out["track_accuracy_std"] = float(tacc.std())
    return out


# ---------------------------------------------------------------------------------------------
# recreation fidelity: shares of clips classified as intended, Fréchet distance of embeddings


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussian fits of ``a (n, d)`` and ``b (m, d)``.

    Covariances are Ledoit-Wolf shrinkage estimates (well conditioned for n < d) plus a
    ridge of 1e-6 of their mean variance.
    """
    from sklearn.covariance import ledoit_wolf

    a, b = np.atleast_2d(np.asarray(a, np.float64)), np.atleast_2d(np.asarray(b, np.float64))
    if a.shape[1] != b.shape[1]:
        raise ParameterError(f"embeddings have {a.shape[1]} and {b.shape[1]} dimensions; they must match")
    if len(a) < 2 or len(b) < 2:
        raise ParameterError("the Fréchet distance needs at least 2 embeddings on each side")
    sa, sb = ledoit_wolf(a)[0], ledoit_wolf(b)[0]
    ridge = 1e-6 * max((np.trace(sa) + np.trace(sb)) / (2 * a.shape[1]), 1e-12)  # keeps sqrtm defined
    sa, sb = sa + ridge * np.eye(a.shape[1]), sb + ridge * np.eye(a.shape[1])
    tr_covmean = _trace_sqrt_product(sa, sb, np.concatenate([a - a.mean(0), b - b.mean(0)]))
    d = float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(sa) + np.trace(sb) - 2.0 * tr_covmean)
    return max(d, 0.0)


def _trace_sqrt_product(sa: np.ndarray, sb: np.ndarray, rows: np.ndarray) -> float:
    """``Tr sqrtm(sa @ sb)`` for shrinkage covariances ``sa = alpha I + low rank`` (likewise ``sb``).

    Both low-rank parts lie in the span ``Q`` of the centred embeddings ``rows (n + m, d)``, which
    ``sa @ sb`` maps into itself; on its orthogonal complement ``sa @ sb = alpha * beta``. So the
    trace is ``sum sqrt(eig(Q' sa sb Q)) + (d - r) sqrt(alpha beta)``: an ``r x r`` eigenproblem
    instead of scipy.linalg.sqrtm on ``d x d`` (seconds for d = 512; equal in the tests).
    """
    from scipy import linalg

    d = sa.shape[0]
    q = linalg.orth(rows.T)  # (d, r)
    r = q.shape[1]
    if r >= d:
        eig = np.linalg.eigvals(sa @ sb)
        return float(np.sum(np.sqrt(np.clip(eig.real, 0, None))))
    alpha = (np.trace(sa) - np.trace(q.T @ sa @ q)) / (d - r)
    beta = (np.trace(sb) - np.trace(q.T @ sb @ q)) / (d - r)
    eig = np.linalg.eigvals(q.T @ sa @ (sb @ q))
    return float(np.sum(np.sqrt(np.clip(eig.real, 0, None))) + (d - r) * np.sqrt(max(alpha * beta, 0.0)))


def shares(intended: Sequence[str], predicted: Sequence[str], genres: Sequence[str]) -> dict:
    """``{"overall", "n", "correct", "per_genre": {g: {"share", "n", "correct"}}}``; shares in [0, 1]."""
    per: dict[str, dict[str, Any]] = {}
    for g in genres:
        idx = [i for i, t in enumerate(intended) if t == g]
        k = sum(predicted[i] == g for i in idx)
        per[g] = {"share": k / len(idx) if idx else None, "n": len(idx), "correct": int(k)}
    n = sum(v["n"] for v in per.values())
    correct = sum(v["correct"] for v in per.values())
    return {"overall": correct / n if n else None, "n": n, "correct": correct, "per_genre": per}


__all__ = [
    "confusion",
    "metrics_from_confusion",
    "split_scores",
    "track_proba",
    "summarise",
    "shares",
    "frechet_distance",
]
