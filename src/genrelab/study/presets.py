"""The named presets (``demo``, ``paper``) and :func:`load_config`: a preset, then a file over it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from genrelab.errors import ParameterError
from genrelab.study.config import (
    CLASSIFIERS,
    ClassifiersConfig,
    DataConfig,
    FeaturesConfig,
    GridConfig,
    ModelConfig,
    ProtocolsConfig,
    RecreationConfig,
    ReportConfig,
    StudyConfig,
    from_dict,
    read_toml_file,
)


def demo() -> StudyConfig:
    """Small enough for a 2-core CPU in a few minutes: 10 genres x 20 clips x 15 s, few epochs.

    Training settings left out (``None``) are ``genrelab train``'s tuned defaults.
    """
    return StudyConfig(
        preset="demo",
        data=DataConfig(clips_per_genre=20, duration=15.0, seed=0),
        features=FeaturesConfig(workers=2),
        classifiers=ClassifiersConfig(
            repeats=1,
            dense=ModelConfig(split="random:0.3", epochs=30),
            cnn=ModelConfig(split="random:0.3", epochs=20),
            convlstm=ModelConfig(split="random:0.3", epochs=15),
        ),
        protocols=ProtocolsConfig(splits=("random:0.3",), models=("dense",), repeats=3, epochs=30),
        recreation=RecreationConfig(epochs=10, batch_size=32, lr=1e-3, per_genre=4, seconds=6.0),
        report=ReportConfig(title="genrelab demo (synthesised corpus)"),
    )


def paper() -> StudyConfig:
    """The source study's settings and grid, plus honest protocols beside them.

    Dense: Adam lr 1e-4 on 50/50 and 70/30 random splits (random_state 32), epochs 20/50/100,
    batch 16/32/64. CNN: 100 epochs, batch 32, 60/40. Recreation: 20 epochs, batch 32, 80/20,
    genres classical, pop, metal, blues. Protocols: fault-filtered (real GTZAN only) and
    random 70/30, each over 5 seeds.
    """
    return StudyConfig(
        preset="paper",
        data=DataConfig(clips_per_genre=100, duration=30.0, seed=0),
        classifiers=ClassifiersConfig(
            repeats=1,
            seed=32,
            dense=ModelConfig(split="random:0.3", epochs=100, batch_size=32, lr=1e-4),
            cnn=ModelConfig(split="random:0.4", epochs=100, batch_size=32, lr=1e-4),
            convlstm=ModelConfig(split="random:0.4", epochs=100, batch_size=32, lr=1e-4),
        ),
        protocols=ProtocolsConfig(splits=("fault-filtered", "random:0.3"), models=CLASSIFIERS, repeats=5),
        grid=GridConfig(enabled=True),
        recreation=RecreationConfig(epochs=20, batch_size=32, lr=1e-4, val_fraction=0.2, per_genre=4),
        report=ReportConfig(title="genrelab study (source-study settings)"),
    )


PRESETS: dict[str, Callable[[], StudyConfig]] = {"demo": demo, "paper": paper}


def get_preset(name: str) -> StudyConfig:
    """A preset by name; ParameterError listing the presets otherwise."""
    if name not in PRESETS:
        raise ParameterError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name]()


def load_config(path: Path | str | None = None, *, preset: str | None = None) -> StudyConfig:
    """The preset (``demo`` when none is named, or the file's own ``preset``), then the file over it."""
    raw: dict[str, Any] = read_toml_file(path) if path is not None else {}
    name = preset or raw.get("preset") or "demo"
    raw["preset"] = name
    return from_dict(raw, base=get_preset(name))


__all__ = ["PRESETS", "demo", "get_preset", "load_config", "paper"]
