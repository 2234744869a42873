"""Value checks of a study config beyond types: positive sizes, known names, limits, the judge."""

from __future__ import annotations

import math

from genrelab.constants import GENRES
from genrelab.errors import ParameterError
from genrelab.features.lengths import check_pad, check_segment
from genrelab.study.config import (
    AUDIO_FORMATS,
    CLASSIFIERS,
    RECREATE_SECONDS,
    RECREATION_MODELS,
    ModelConfig,
    RecreationConfig,
    StudyConfig,
)


def _positive(where: str, value: float | None) -> None:
    """ParameterError unless ``value`` is None or a finite number > 0."""
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise ParameterError(f"{where} = {value!r} must be positive and finite")


def _known(where: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    """ParameterError naming the first of ``values`` not in ``allowed``."""
    for v in values:
        if v not in allowed:
            raise ParameterError(f"{where}: unknown name {v!r}; choose from {', '.join(allowed)}")


def _validate_training(config: StudyConfig) -> None:
    """The classifiers, protocols and grid sections: model names, splits, positive sizes."""
    from genrelab.data.splits import parse_protocol

    c = config.classifiers
    _known("classifiers.models", c.models, CLASSIFIERS)
    _positive("classifiers.repeats", c.repeats)
    for name in CLASSIFIERS:
        m: ModelConfig = getattr(c, name)
        parse_protocol(m.split)
        _positive(f"classifiers.{name}.epochs", m.epochs)
        _positive(f"classifiers.{name}.batch_size", m.batch_size)
        _positive(f"classifiers.{name}.lr", m.lr)
    p = config.protocols
    _known("protocols.models", p.models, CLASSIFIERS)
    for s in p.splits:
        parse_protocol(s)
    _positive("protocols.repeats", p.repeats)
    _positive("protocols.epochs", p.epochs)
    _positive("protocols.batch_size", p.batch_size)
    _positive("protocols.lr", p.lr)
    g = config.grid
    _known("grid.models", g.models, CLASSIFIERS)
    for s in g.splits:
        parse_protocol(s)
    for e in g.epochs:
        _positive("grid.epochs", e)
    for b in g.batch_sizes:
        _positive("grid.batch_sizes", b)
    _positive("grid.lr", g.lr)


def _validate_recreation(r: RecreationConfig) -> None:
    """The recreation section: model and genre names, sizes, fractions."""
    _known("recreation.models", r.models, RECREATION_MODELS)
    for name in ("epochs", "batch_size", "lr", "per_genre"):
        _positive(f"recreation.{name}", getattr(r, name))
    if not 0.0 < r.val_fraction < 1.0:
        raise ParameterError(f"recreation.val_fraction = {r.val_fraction} must be between 0 and 1")
    # the same limits genrelab.recreation.recreate checks, here at load time, not 20 s into the run
    if not (math.isfinite(r.seconds) and RECREATE_SECONDS[0] <= r.seconds <= RECREATE_SECONDS[1]):
        lo, hi = RECREATE_SECONDS
        raise ParameterError(
            f"recreation.seconds = {r.seconds} must be between {lo:g} and {hi:g} (classifiers need 3 s)"
        )
    if not (math.isfinite(r.guidance) and r.guidance >= 0):
        raise ParameterError(f"recreation.guidance = {r.guidance} must be a finite number >= 0")
    if r.temperature is not None and not (math.isfinite(r.temperature) and r.temperature >= 0):
        raise ParameterError(
            f"recreation.temperature = {r.temperature} must be a finite number >= 0 (0: deterministic)"
        )
    _known("recreation.genres", r.genres, GENRES)
    if r.models and not r.genres:
        raise ParameterError("recreation.genres is empty; name at least one genre (or set recreation.models = [])")


def _validate_pca(config: StudyConfig) -> None:
    """The PCA of recreated clips needs two recreated genres and three clips per source."""
    r = config.recreation
    if not r.models:
        return
    genres = config.pca.genres or r.genres
    where = "pca.genres" if config.pca.genres else "recreation.genres"
    absent = [g for g in genres if g not in r.genres]
    if absent:
        raise ParameterError(f"pca.genres names {', '.join(absent)}, which recreation.genres does not recreate")
    if len(genres) < 2:
        raise ParameterError(f"{where} = {list(genres)}: the PCA step needs at least two genres")
    if r.per_genre * len(genres) < 3:
        raise ParameterError(
            f"recreation.per_genre = {r.per_genre} gives {r.per_genre * len(genres)} clips of {where} per model; "
            "the PCA step needs at least 3"
        )


def _validate_judge(config: StudyConfig) -> None:
    """The judge is a map classifier the study trains, and never the guidance model (the cnn)."""
    from genrelab.models import MODELS

    r = config.recreation
    if not r.models:
        return
    maps = tuple(n for n, s in MODELS.items() if s.kind == "maps")
    if r.judge not in maps:
        raise ParameterError(f"recreation.judge = {r.judge!r} must be a map classifier; choose from {', '.join(maps)}")
    if r.judge == "cnn":
        raise ParameterError(
            "recreation.judge = 'cnn' is the guidance model; the judge must take no part in making "
            "the clips (use 'convlstm')"
        )
    if r.judge not in config.classifiers.models:
        raise ParameterError(
            f"recreation.judge = {r.judge!r} is not in classifiers.models, so the study would not train it"
        )
    _positive("recreation.diffusion_steps", r.diffusion_steps)


def validate(config: StudyConfig) -> None:
    """Value checks beyond types: positive sizes, known names and split protocols."""
    d = config.data
    _positive("data.clips_per_genre", d.clips_per_genre)
    _positive("data.duration", d.duration)
    _positive("data.sr", d.sr)
    check_segment(config.features.segment_maps, name="features.segment_maps")
    check_pad(config.features.pad)
    _positive("features.workers", config.features.workers)
    _validate_training(config)
    _validate_recreation(config.recreation)
    _validate_judge(config)
    _known("pca.genres", config.pca.genres, GENRES)
    _validate_pca(config)
    rc = config.report
    if rc.audio_format not in AUDIO_FORMATS:
        raise ParameterError(f"report.audio_format = {rc.audio_format!r}; choose from {', '.join(AUDIO_FORMATS)}")
    if rc.players_per_genre < 0:
        raise ParameterError(f"report.players_per_genre = {rc.players_per_genre} must be >= 0")


__all__ = ["validate"]
