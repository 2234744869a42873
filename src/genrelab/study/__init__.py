"""The study: its config (frozen dataclasses, TOML, presets) and the resumable step runner.

``genrelab.study.config``   the config dataclasses, TOML in and out, coercion, validation
``genrelab.study.presets``  ``demo``, ``paper``, :func:`get_preset`, :func:`load_config`
``genrelab.study.hashing``  :func:`digest`, :func:`step_hash`
``genrelab.study.state``    the ``RUN/state.json`` record
``genrelab.study.runner``   :func:`run_study`, :func:`study_state`
``genrelab.study.outputs``  what each step writes; output fingerprints checked on resume
``genrelab.study.feasibility``  every split the study will make, checked after the features step
``genrelab.study.long_steps``   the ``protocols`` and ``grid`` steps (cells)
"""

from __future__ import annotations

from genrelab.study.config import (
    AUDIO_FORMATS,
    CLASSIFIERS,
    GENERATION_FIELDS,
    RECREATION_MODELS,
    ClassifiersConfig,
    DataConfig,
    FeaturesConfig,
    GridConfig,
    ModelConfig,
    PcaConfig,
    ProtocolsConfig,
    RecreationConfig,
    ReportConfig,
    StudyConfig,
    from_dict,
    from_toml,
    save_config,
)
from genrelab.study.hashing import digest, step_hash
from genrelab.study.presets import PRESETS, demo, get_preset, load_config, paper
from genrelab.study.runner import run_study, study_state
from genrelab.study.validation import validate

__all__ = [
    "AUDIO_FORMATS",
    "CLASSIFIERS",
    "GENERATION_FIELDS",
    "PRESETS",
    "RECREATION_MODELS",
    "ClassifiersConfig",
    "DataConfig",
    "FeaturesConfig",
    "GridConfig",
    "ModelConfig",
    "PcaConfig",
    "ProtocolsConfig",
    "RecreationConfig",
    "ReportConfig",
    "StudyConfig",
    "demo",
    "digest",
    "from_dict",
    "from_toml",
    "get_preset",
    "load_config",
    "paper",
    "run_study",
    "save_config",
    "step_hash",
    "study_state",
    "validate",
]
