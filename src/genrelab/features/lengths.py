"""How long a clip must be for each part, and what happens to clips shorter than a part wants.

- **The floor: 0.5 s** (:data:`MIN_SECONDS`) for the 57-feature row of a clip. At sr 22050 and
  hop 512 that is 22 STFT frames (``1 + n // 512``). Every feature is a mean/variance over
  frames (or samples), and 22 frames is the point where the least robust step is whole:
  harmonic/percussive separation median-filters the magnitudes with a 31-frame kernel along
  time, reflected at the ends; from 16 frames on each window reflects once, so every median is
  over frames of the clip itself (shorter clips wrap around again and again). Chroma (12 bins
  from one frame each), centroid, bandwidth, rolloff, RMS, ZCR and the MFCCs need one frame
  each; a variance over ~20 frames is a statistic rather than noise. The engine equals librosa
  on far shorter pieces, so the floor is about meaning, not arithmetic. Below it a clip is
  skipped with one sentence naming the floor.
- **Tempo: 2 s** (:data:`TEMPO_MIN_SECONDS`). librosa's estimate (an onset autocorrelation
  over 8 s windows under a log-normal prior at 120 bpm) needs a few beats of onset
  envelope. Measured on 2 s..0.5 s excerpts of the ten real GTZAN clips (every 1 s start):
  within 8 % of the whole clip's tempo for 70 % of 3 s excerpts, 61 % at 2 s, 52 % at 1.5 s, 42 % at 1 s
  and 3 % at 0.5 s, against 60 % for the constant 120 bpm. So below 2 s the ``tempo`` column
  holds :data:`TEMPO_FALLBACK_BPM` (the prior's centre, librosa's ``start_bpm``) and the row
  gets a note (``notes.csv`` beside the table), never a silent made-up number.
- **MFCC maps**: a clip shorter than a map segment (3 s = 130 frames by default) gives one map
  of the segment's frame count, its audio padded by :data:`PAD_MODES` ``reflect`` (default,
  measured by ``bench/short_clips.py``), ``repeat`` or ``zeros``; the map's ``padded`` flag
  and ``seconds`` record it.
"""

from __future__ import annotations

import numpy as np

from genrelab.constants import HOP_LENGTH, SR
from genrelab.errors import AudioError, ParameterError

#: Shortest clip (seconds) that gives a feature row, a map or a prediction (see the module docstring).
MIN_SECONDS = 0.5
#: Shortest clip (seconds) whose tempo is estimated; shorter ones get :data:`TEMPO_FALLBACK_BPM`.
TEMPO_MIN_SECONDS = 2.0
#: The tempo reported for clips under :data:`TEMPO_MIN_SECONDS`: the estimator's prior centre.
TEMPO_FALLBACK_BPM = 120.0
#: How a clip shorter than a map segment is padded: mirrored, tiled, or silence after it.
PAD_MODES: tuple[str, ...] = ("reflect", "repeat", "zeros")
#: The default padding (the cheapest for the cnn in ``bench/short_clips.py``; README table).
DEFAULT_PAD = "reflect"

_NUMPY_MODE = {"reflect": "reflect", "repeat": "wrap", "zeros": "constant"}

__all__ = [
    "MIN_SECONDS",
    "TEMPO_MIN_SECONDS",
    "TEMPO_FALLBACK_BPM",
    "PAD_MODES",
    "DEFAULT_PAD",
    "check_length",
    "check_pad",
    "check_segment",
    "pad_to",
    "segment_frames",
    "tempo_fallback",
]


def check_length(n: int, *, sr: int = SR, what: str = "clip", part: str = "") -> None:
    """AudioError in one sentence when ``n`` samples at ``sr`` are under :data:`MIN_SECONDS`."""
    if n < MIN_SECONDS * sr:
        raise AudioError(
            f"too short ({n / sr:.2f} s{part}); a {what} needs at least {MIN_SECONDS:g} s "
            f"({int(MIN_SECONDS * sr)} samples at {sr} Hz: enough STFT frames for every feature)"
        )


def check_pad(pad: str) -> str:
    """``pad`` itself, or ParameterError naming the choices."""
    if pad not in PAD_MODES:
        raise ParameterError(f"pad={pad!r} is not a padding mode; choose from {list(PAD_MODES)}")
    return pad


def check_segment(seconds: float, *, name: str = "segment") -> float:
    """``seconds`` as a float, or ParameterError unless it is a finite number >= :data:`MIN_SECONDS`."""
    ok = isinstance(seconds, (int, float, np.floating)) and not isinstance(seconds, bool) and np.isfinite(seconds)
    if not ok or seconds < MIN_SECONDS:
        raise ParameterError(f"{name}={seconds!r} must be a number of seconds >= {MIN_SECONDS:g}")
    return float(seconds)


def segment_frames(seconds: float, *, sr: int = SR, hop_length: int = HOP_LENGTH) -> int:
    """STFT frames of one ``seconds``-long segment: ``1 + round(seconds * sr) // hop_length`` (130 for 3 s)."""
    return 1 + int(round(seconds * sr)) // hop_length


def pad_to(y: np.ndarray, n: int, *, mode: str = DEFAULT_PAD) -> np.ndarray:
    """``y (m,)`` padded at its end to ``(n,)`` samples by ``mode`` (``y`` itself when ``m >= n``).

    ``reflect`` mirrors the clip (repeatedly if needed), ``repeat`` tiles it, ``zeros`` appends
    silence.
    """
    check_pad(mode)
    y = np.asarray(y, dtype=np.float32)
    if y.size >= n:
        return y
    if y.size < 2 and mode == "reflect":
        mode = "repeat"
    return np.pad(y, (0, n - y.size), mode=_NUMPY_MODE[mode])  # type: ignore[call-overload]


def tempo_fallback(features: dict[str, float], n: int, *, sr: int = SR) -> str | None:
    """For a clip of ``n`` samples under :data:`TEMPO_MIN_SECONDS`: set ``features["tempo"]`` to
    :data:`TEMPO_FALLBACK_BPM` and return the note that says so; otherwise None (untouched)."""
    if "tempo" not in features or n >= TEMPO_MIN_SECONDS * sr:
        return None
    features["tempo"] = TEMPO_FALLBACK_BPM
    return (
        f"tempo: {n / sr:.2f} s is under the {TEMPO_MIN_SECONDS:g} s a tempo estimate needs; "
        f"tempo set to {TEMPO_FALLBACK_BPM:g} bpm (the estimator's prior centre)"
    )
