"""Train, evaluate and apply the genre classifiers (``dense``, ``cnn``, ``convlstm``).

:mod:`~genrelab.classify.training` trains under a split protocol into a run folder;
:mod:`~genrelab.classify.classifier` loads a trained model and applies it to tables, maps and
audio; :mod:`~genrelab.classify.apply` predicts files and scores other data sets;
:mod:`~genrelab.classify.inputs` holds what differs between feature and map models.
"""

from __future__ import annotations

from genrelab.classify.apply import evaluate_classifiers, predict_files
from genrelab.classify.classifier import Classifier, default_model, trained_classifiers
from genrelab.classify.inputs import log_columns_of
from genrelab.classify.training import new_model, train_classifiers, train_config_for
from genrelab.constants import SR

__all__ = [
    "train_classifiers",
    "train_config_for",
    "new_model",
    "log_columns_of",
    "Classifier",
    "trained_classifiers",
    "default_model",
    "predict_files",
    "evaluate_classifiers",
    "SR",
]
