"""A procedural ten-genre corpus in GTZAN's layout, synthesised with numpy/scipy alone.

``render_clip(genre, index=i, seed=s)`` is a pure function of ``(genre, i, s, duration, sr)``:
its random generator is seeded from a ``SeedSequence`` of the seed, a CRC-32 of the genre name
and the index (never Python's ``hash()``), so the same arguments give the same bytes.
``synthesise_corpus`` writes ``out/<genre>/<genre>.000NN.wav`` and resumes: a complete file is kept.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from genrelab.constants import GENRES
from genrelab.errors import ParameterError

__all__ = ["synthesise_corpus", "render_clip", "clip_rng", "MAX_DURATION", "SR_RANGE"]

#: Longest clip synthesised, seconds.
MAX_DURATION = 600.0
#: Allowed sample rates (inclusive).
SR_RANGE = (8000, 96000)


def _check(*, duration: float, sr: int, seed: int) -> None:
    if not isinstance(duration, (int, float)) or isinstance(duration, bool) or not (0 < duration <= MAX_DURATION):
        raise ParameterError(f"duration={duration!r} must be a number of seconds in (0, {MAX_DURATION:g}]")
    if not isinstance(sr, (int, np.integer)) or isinstance(sr, bool) or not (SR_RANGE[0] <= sr <= SR_RANGE[1]):
        raise ParameterError(f"sr={sr!r} must be an integer sample rate in [{SR_RANGE[0]}, {SR_RANGE[1]}]")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ParameterError(f"seed={seed!r} must be a non-negative integer")


def _check_genre(genre: str) -> None:
    if genre not in GENRES:
        raise ParameterError(f"unknown genre {genre!r}; choose from {list(GENRES)}")


def clip_rng(genre: str, *, index: int, seed: int = 0) -> np.random.Generator:
    """The random generator of one clip, a stable function of ``(seed, genre, index)``."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(genre.encode("utf-8")), int(index)]))


def render_clip(genre: str, *, index: int, duration: float = 30.0, sr: int = 22050, seed: int = 0) -> np.ndarray:
    """Synthesise one clip of ``genre``: ``y [shape=(round(duration * sr),)]`` float32, peak <= 1."""
    _check_genre(genre)
    _check(duration=duration, sr=sr, seed=seed)
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or index < 0:
        raise ParameterError(f"index={index!r} must be a non-negative integer")
    from genrelab.data.synth.genres import ARRANGERS
    from genrelab.data.synth.mix import mixdown

    n = int(round(duration * sr))
    rng = clip_rng(genre, index=index, seed=seed)
    score, plan = ARRANGERS[genre](rng, sr, n)
    y = mixdown(dict(score.buses), plan, sr=sr, rng=rng)
    y = y * rng.uniform(0.6, 0.97)  # peak target, varying from clip to clip
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def clip_path(out: Path, genre: str, index: int) -> Path:
    """``out/<genre>/<genre>.000NN.wav``."""
    return Path(out) / genre / f"{genre}.{index:05d}.wav"


def _complete(path: Path, *, n: int, sr: int) -> bool:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:
        return False
    return info.frames == n and info.samplerate == sr and info.channels == 1


def synthesise_corpus(
    out: Path,
    *,
    clips_per_genre: int = 100,
    duration: float = 30.0,
    sr: int = 22050,
    seed: int = 0,
    genres: Sequence[str] | None = None,
    progress: bool = True,
) -> list[Path]:
    """Write ``clips_per_genre`` synthesised clips per genre as 16-bit WAV under ``out``.

    Returns the paths of all clips (written now or kept from an earlier run), in genre order.
    A file already present with the right length and rate is kept, since output is deterministic.
    """
    if not isinstance(clips_per_genre, (int, np.integer)) or isinstance(clips_per_genre, bool) or clips_per_genre < 1:
        raise ParameterError(f"clips_per_genre={clips_per_genre!r} must be a positive integer")
    if clips_per_genre > 99999:
        raise ParameterError(f"clips_per_genre={clips_per_genre} must be at most 99999 (five-digit file numbers)")
    _check(duration=duration, sr=sr, seed=seed)
    chosen = list(GENRES) if genres is None else list(genres)
    if not chosen:
        raise ParameterError(f"genres is empty; choose from {list(GENRES)}")
    for g in chosen:
        _check_genre(g)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"out={str(out)!r} exists and is not a folder")

    from genrelab.audio import save
    from genrelab.progress import track

    n = int(round(duration * sr))
    jobs = [(g, i) for g in dict.fromkeys(chosen) for i in range(clips_per_genre)]
    paths = []
    for genre, i in track(jobs, description="synthesising corpus", enabled=progress):
        path = clip_path(out, genre, i)
        if not _complete(path, n=n, sr=sr):
            save(path, render_clip(genre, index=i, duration=duration, sr=sr, seed=seed), sr=sr, subtype="PCM_16")
        paths.append(path)
    return paths
