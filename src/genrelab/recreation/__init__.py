"""Genre-conditioned MFCC recreation: train, generate, guide, invert, reclassify (fidelity).

Modules: :mod:`.training` (:func:`train_recreation`), :mod:`.generator` (:class:`Recreator`,
:func:`generate`), :mod:`.guidance` (:func:`guide`), :mod:`.clips` (inversion, wavs),
:mod:`.heldout` (real clips and prompts), :mod:`.fidelity` (reclassification; the numbers are
:func:`genrelab.metrics.shares` and :func:`genrelab.metrics.frechet_distance`) and
:mod:`.pipeline` (:func:`recreate`). Every public name is importable from here.

Training data are the 3 s segment maps of a :class:`~genrelab.features.FeatureSet`
(``maps (N, n_mfcc, 130)``): each segment is one training sequence (its 2 edge frames at each
end dropped: centre padding makes them quieter), standardised per MFCC coefficient with the
training side's mean/std; 80/20 split by track (:func:`genrelab.data.splits.make_splits`,
``random:<val_fraction>``, stratified by genre). Segments are not concatenated back into
tracks: the LSTM's state was measured to forget within ~60 frames, so longer training
sequences would add cost, not memory.

``RUN/models/recreate-<x>.pt``: ``{"name", "kind": "recreation", "config", "state_dict",
"labels", "mfcc_mean" (n_mfcc,), "mfcc_std" (n_mfcc,), "residual_std" (n_mfcc,) (RMS of the
teacher-forced validation residual, standardised units), "genre_mean" (n_genres, n_mfcc),
"mfcc_min"/"mfcc_max" (n_mfcc,) (range of the training frames), "frames", "val_tracks",
"protocol", "sr", "n_fft", "hop_length", "created"}``.
``RUN/metrics/recreate-<x>.json``: ``history`` (``{epoch, train_loss, val_loss}``), ``val_mse``
(best epoch, teacher-forced), ``val_mse_persistence`` (the "repeat the last frame" baseline),
``n_train``, ``n_val`` (segments), ``n_val_tracks``, ``config``, ``labels``, ``protocol``,
``epochs``, ``lr``, ``batch_size``.

``RUN/metrics/fidelity.json`` (written by :func:`recreate`)::

    {"genres": [...], "models": ["lstm", ...], "missing": [models asked for, not trained],
     "per_genre": N, "seconds": S, "temperature": T, "guidance": W, "prompt_frames": P,
     "seed": s, "sr": 22050, "classifiers": ["dense", "cnn", ...],
     "real_clips": {genre: {"n", "tracks", "unseen_by_classifiers", "unseen_by_recreation"}},
     "sources": {"lstm": "recreated by recreate-lstm", "oracle": "...", "real": "..."},
     "fidelity": {classifier: {source: {"overall": share, "n": n, "correct": k,
                                        "per_genre": {genre: {"share", "n", "correct"}}}}},
     "frechet": {classifier: {source: {"per_genre": {genre: d}, "mean": d}}},
     "frechet_covariance": "...", "clips": [{"source", "genre", "file", "predicted": {clf: label}}]}

``source`` is a recreation model (``lstm``/``dense``), ``oracle`` (real held-out clips ->
MFCC -> ``mfcc_to_audio`` -> classifier: what inversion alone costs) or ``real`` (the same
real clips, unaltered); the real clips prefer tracks on the classifiers' test side and the
recreation models' validation side (``real_clips`` says how many are). Shares are in [0, 1].
Wavs keep the level their MFCCs imply (only scaled down to avoid clipping, see
:func:`limit_peak`). Fréchet distances compare the classifier's
penultimate embeddings of the ``real`` clips of a genre with those of a source, using
Ledoit-Wolf shrinkage covariances (there are only a few clips per genre).
"""

from __future__ import annotations

from genrelab.constants import HOP_LENGTH, N_FFT, SR
from genrelab.metrics import frechet_distance, shares
from genrelab.recreation.clips import limit_peak, mfcc_to_audio
from genrelab.recreation.fidelity import reclassify
from genrelab.recreation.generator import EDGE, Recreator, frames_for, generate
from genrelab.recreation.guidance import guide, target_log_prob
from genrelab.recreation.pipeline import (
    DEFAULT_GENRES,
    GUIDE_MODELS,
    MODEL_SHORT,
    recreate,
)
from genrelab.recreation.training import RECREATION_MODELS, train_recreation

__all__ = [
    "train_recreation",
    "Recreator",
    "generate",
    "frames_for",
    "guide",
    "target_log_prob",
    "recreate",
    "limit_peak",
    "mfcc_to_audio",
    "reclassify",
    "shares",
    "frechet_distance",
    "RECREATION_MODELS",
    "MODEL_SHORT",
    "DEFAULT_GENRES",
    "GUIDE_MODELS",
    "EDGE",
    "SR",
    "N_FFT",
    "HOP_LENGTH",
]
