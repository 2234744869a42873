"""The study's configuration: frozen dataclasses per stage, TOML in and out, validation.

A config file holds only what it changes; everything else comes from a preset (``demo`` by
default, see :mod:`genrelab.study.presets`). Unknown sections or keys are errors that name the
key, the section and what is allowed. :func:`genrelab.study.hashing.step_hash` hashes just the
sections a study step depends on, so a changed config reruns only the steps it affects.

    [classifiers.dense]      # one table per classifier
    epochs = 50
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genrelab.constants import RECREATION_GENRES, SEGMENT_SECONDS, SR
from genrelab.errors import ParameterError
from genrelab.models import CLASSIFIERS, MODELS
from genrelab.study.hashing import added, nohash

RECREATION_MODELS: tuple[str, ...] = tuple(n for n, s in MODELS.items() if s.kind == "recreation")
AUDIO_FORMATS: tuple[str, ...] = ("ogg", "flac")
RECREATE_SECONDS: tuple[float, float] = (3.0, 60.0)  # recreate's clip length limits (3 s classifier windows)


@dataclass(frozen=True)
class DataConfig:
    """The synthesised corpus (used only when the study is given no data folder)."""

    clips_per_genre: int = 100
    duration: float = 30.0
    sr: int = SR
    seed: int = 0


@dataclass(frozen=True)
class FeaturesConfig:
    """Feature table and MFCC maps (``genrelab.features.prepare``)."""

    segment_maps: float = SEGMENT_SECONDS  # seconds per MFCC map; the map models and checkpoints record it
    pad: str = added("reflect")  # how a clip shorter than a segment is padded: reflect | repeat | zeros
    workers: int = nohash(1)


@dataclass(frozen=True)
class ModelConfig:
    """One classifier's training settings; ``None`` means the module's own default."""

    split: str = "random:0.3"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None


@dataclass(frozen=True)
class ClassifiersConfig:
    """The main classifiers, trained into the run folder and used to reclassify recreations.

    One :class:`ModelConfig` field per name in ``genrelab.models.CLASSIFIERS``.
    """

    models: tuple[str, ...] = CLASSIFIERS
    repeats: int = 1
    seed: int = 32
    dense: ModelConfig = ModelConfig()
    cnn: ModelConfig = ModelConfig()
    convlstm: ModelConfig = ModelConfig()


@dataclass(frozen=True)
class ProtocolsConfig:
    """Honest protocols beside the main split: each split x model, repeated over seeds.

    ``fault-filtered`` runs only on real GTZAN data (a synthesised corpus has no artists).
    ``epochs``/``batch_size``/``lr`` of ``None`` use ``genrelab train``'s tuned defaults.
    """

    splits: tuple[str, ...] = ()
    models: tuple[str, ...] = ("dense",)
    repeats: int = 3
    seed: int = 32
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None


@dataclass(frozen=True)
class GridConfig:
    """The source study's hyper-parameter grid (off unless ``enabled``)."""

    enabled: bool = False
    models: tuple[str, ...] = ("dense",)
    splits: tuple[str, ...] = ("random:0.5", "random:0.3")
    epochs: tuple[int, ...] = (20, 50, 100)
    batch_sizes: tuple[int, ...] = (16, 32, 64)
    lr: float = 1e-4
    seed: int = 32


@dataclass(frozen=True)
class RecreationConfig:
    """Recreation models (training) and the recreated clips (generation + reclassification)."""

    models: tuple[str, ...] = RECREATION_MODELS
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-4
    val_fraction: float = 0.2
    seed: int = 32
    genres: tuple[str, ...] = RECREATION_GENRES
    per_genre: int = 4
    seconds: float = 6.0
    guidance: float = 0.0
    temperature: float | None = None
    generate_seed: int = 0
    judge: str = "convlstm"  # the map classifier that judges the clips: never the guide (cnn)
    diffusion_steps: int = 700  # optimiser steps of recreate-diffusion


# The recreation fields that only generation reads (a change reruns recreate, not training).
GENERATION_FIELDS = ("genres", "per_genre", "seconds", "guidance", "temperature", "generate_seed", "judge")


@dataclass(frozen=True)
class PcaConfig:
    """PCA of the recreated clips; ``genres`` empty means the recreation genres."""

    genres: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportConfig:
    """The HTML report."""

    title: str = "genrelab study"
    audio_format: str = "ogg"  # Ogg Vorbis: about a tenth of FLAC's size; "flac" is lossless
    players_per_genre: int = 2
    include_audio: bool = True


@dataclass(frozen=True)
class StudyConfig:
    """Everything a study run needs, one frozen dataclass per stage."""

    preset: str = "demo"
    data: DataConfig = DataConfig()
    features: FeaturesConfig = FeaturesConfig()
    classifiers: ClassifiersConfig = ClassifiersConfig()
    protocols: ProtocolsConfig = ProtocolsConfig()
    grid: GridConfig = GridConfig()
    recreation: RecreationConfig = RecreationConfig()
    pca: PcaConfig = PcaConfig()
    report: ReportConfig = ReportConfig()

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists, ``None`` fields left out), as in the TOML."""
        return _to_dict(self)

    def to_toml(self) -> str:
        """The config as TOML text; :func:`from_toml` reads it back to an equal config."""
        import tomli_w

        return tomli_w.dumps(self.to_dict())


# ---------------------------------------------------------------------------------------------
# dict <-> dataclass


def _to_dict(obj: Any) -> dict[str, Any]:
    """Nested dict of a config dataclass: tuples as lists, ``None`` fields left out."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        if dataclasses.is_dataclass(value):
            out[f.name] = _to_dict(value)
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        else:
            out[f.name] = value
    return out


_PLURALS: dict[Any, str] = {int: "integers", float: "numbers", str: "strings"}


def _type_name(tp: Any) -> str:
    """The annotation ``tp`` in words, for error messages ("an integer", "a list of strings")."""
    origin = typing.get_origin(tp)
    if origin is tuple:
        item = typing.get_args(tp)[0]
        return f"a list of {_PLURALS.get(item, item)}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if tp is int:
        return "an integer"
    return {float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _coerce_scalar(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against a scalar annotation (bool, int, float, str)."""
    if tp is bool:
        if not isinstance(value, bool):
            raise ParameterError(f"{where} = {value!r} must be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"{where} = {value!r} must be an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"{where} = {value!r} must be a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ParameterError(f"{where} = {value!r} must be a string")
        return value
    raise ParameterError(f"{where}: unsupported type {tp}")  # pragma: no cover - schema bug


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (int, float, str, bool, tuple[..], X | None)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ParameterError:
                pass
        raise ParameterError(f"{where} = {value!r} must be {_type_name(tp)}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ParameterError(f"{where} = {value!r} must be {_type_name(tp)}")
        item = typing.get_args(tp)[0]
        return tuple(_coerce(v, item, where) for v in value)
    return _coerce_scalar(value, tp, where)


def _build(cls: type, raw: Mapping[str, Any], section: str) -> Any:
    """Build dataclass ``cls`` from ``raw``; unknown keys name the key and the section."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    label = f"[{section}]" if section else "the top level"
    for key in raw:
        if key not in names:
            raise ParameterError(f"unknown key {key!r} in {label}; allowed: {', '.join(names)}")
    kwargs: dict[str, Any] = {}
    for name in names:
        if name not in raw:
            continue
        tp = hints[name]
        where = f"{section}.{name}" if section else name
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            if not isinstance(raw[name], Mapping):
                raise ParameterError(f"{where} must be a table ([{where}])")
            kwargs[name] = _build(tp, raw[name], where)
        else:
            kwargs[name] = _coerce(raw[name], tp, where)
    return cls(**kwargs)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``over`` onto ``base`` (tables merge key by key; other values replace)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def from_dict(raw: Mapping[str, Any], *, base: StudyConfig | None = None) -> StudyConfig:
    """A validated StudyConfig from a nested dict laid over ``base`` (the defaults if None)."""
    merged = _merge(base.to_dict() if base is not None else {}, raw)
    config = _build(StudyConfig, merged, "")
    from genrelab.study.validation import validate

    validate(config)
    return config


def from_toml(text: str, *, base: StudyConfig | None = None, source: str = "config") -> StudyConfig:
    """Parse TOML text (laid over ``base``); bad TOML or keys raise ParameterError."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"{source} is not valid TOML: {exc}") from None
    return from_dict(raw, base=base)


def read_toml_file(path: Path | str) -> dict[str, Any]:
    """The raw tables of a TOML file; ParameterError when it is missing or not TOML."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"config file {str(path)!r} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ParameterError(f"config file {str(path)!r} is not valid TOML: {exc}") from None


def save_config(config: StudyConfig, path: Path) -> Path:
    """Write the effective config as TOML (atomically)."""
    from genrelab.io import write_text

    return write_text(path, config.to_toml())


# ---------------------------------------------------------------------------------------------
# validation


__all__ = [
    "AUDIO_FORMATS",
    "CLASSIFIERS",
    "GENERATION_FIELDS",
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
    "from_dict",
    "from_toml",
    "read_toml_file",
    "save_config",
]
