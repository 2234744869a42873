"""Load any audio file as mono float32 at a target rate, with clear errors for bad files."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np
import soundfile as sf

from genrelab.errors import AudioError, ParameterError

#: Extensions genrelab treats as audio when it scans folders.
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".au", ".aif", ".aiff", ".flac", ".ogg", ".mp3", ".snd")

#: Sample rates (Hz) a file's header may declare; anything else is refused before decoding
#: (a ``.au`` header saying 1 Hz made resampling allocate without bound).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 384000
#: Longest stretch of a file that is decoded, in seconds at the file's own rate (30 min);
#: ``offset``/``duration`` select a part of a longer file.
MAX_SECONDS = 30 * 60.0
#: Most samples (frames x channels) decoded at once: 2**28, 1 GiB as float32.
MAX_SAMPLES = 2**28


def load(
    path: str | os.PathLike[str],
    *,
    sr: int | None = 22050,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    min_duration: float = 0.0,
) -> np.ndarray:
    """Read ``path`` and return float32 samples.

    Returns ``y : np.ndarray [shape=(n,)]`` when ``mono`` else ``[shape=(channels, n)]``,
    resampled to ``sr`` (soxr, high quality) unless ``sr`` is None.

    Raises :class:`AudioError` naming the file when it is missing, not a regular file, empty,
    not audio, truncated, contains NaN/inf, or is shorter than ``min_duration`` seconds; and,
    before decoding, when its sample rate is outside ``MIN_SAMPLE_RATE``..``MAX_SAMPLE_RATE``
    or the part to read (after ``offset``/``duration``) is longer than ``MAX_SECONDS`` or
    holds more than ``MAX_SAMPLES`` samples.
    """
    path = Path(path)
    if sr is not None and (not isinstance(sr, (int, np.integer)) or sr <= 0):
        raise ParameterError(f"sr={sr} must be a positive integer")
    if offset < 0:
        raise ParameterError(f"offset={offset} must be >= 0")
    if duration is not None and duration <= 0:
        raise ParameterError(f"duration={duration} must be positive")
    _check_file(path)
    try:
        with sf.SoundFile(str(path)) as f:
            native_sr = f.samplerate
            _check_header(path, f.format, f.extra_info)
            _check_rate(path, native_sr)
            start = min(int(round(offset * native_sr)), max(f.frames, 0))
            if offset and start >= f.frames > 0:
                raise AudioError(
                    f"{path}: offset {offset:g} s is past the end of the file, which is {f.frames / native_sr:.2f} s long"
                )
            frames = max(f.frames, 0) - start
            if duration is not None:
                frames = min(frames, int(round(duration * native_sr)))
            _check_cost(path, frames, f.channels, native_sr, part=bool(start) or duration is not None)
            if start:
                f.seek(start)
            data = f.read(frames=frames, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as exc:  # libsndfile reports every format problem as RuntimeError/LibsndfileError
        raise AudioError(f"{path}: not readable as audio ({_short(exc)})") from None
    if data.size == 0:
        raise AudioError(f"{path}: contains no samples")
    y = data.T  # (channels, n)
    if not np.all(np.isfinite(y)):
        if not np.any(np.isfinite(y)):
            raise AudioError(f"{path}: all samples are NaN or infinite")
        raise AudioError(f"{path}: contains NaN or infinite samples")
    if mono:
        y = y.mean(axis=0)
    if sr is not None and native_sr != sr:
        y = resample(y, orig_sr=native_sr, target_sr=sr)
    if not np.all(np.isfinite(y)):  # finite samples near the float32 limit overflow when mixed or resampled
        raise AudioError(f"{path}: samples too large to mix or resample (they overflow float32)")
    if y.shape[-1] == 0:
        raise AudioError(f"{path}: contains no samples at {sr} Hz")
    rate = sr if sr is not None else native_sr
    n = y.shape[-1]
    if min_duration and n < min_duration * rate:
        raise AudioError(f"{path}: too short ({n / rate:.2f} s < {min_duration:g} s)")
    return np.ascontiguousarray(y, dtype=np.float32)


def info(path: str | os.PathLike[str]) -> tuple[int, int, float]:
    """Cheap header check: ``(samplerate, channels, seconds)``.

    Raises AudioError when the file is unreadable or :func:`load` would refuse it whole (see
    its limits: sample rate, ``MAX_SECONDS``, ``MAX_SAMPLES``).
    """
    path = Path(path)
    _check_file(path)
    try:
        i = sf.info(str(path))
    except Exception as exc:
        raise AudioError(f"{path}: not readable as audio ({_short(exc)})") from None
    if i.frames <= 0:
        raise AudioError(f"{path}: contains no samples")
    _check_header(path, i.format, i.extra_info)
    _check_rate(path, i.samplerate)
    _check_cost(path, i.frames, i.channels, i.samplerate, part=False)
    return int(i.samplerate), int(i.channels), float(i.duration)


def resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with soxr (high quality). ``y [shape=(..., n)]``."""
    import soxr

    if orig_sr == target_sr:
        return y
    if y.ndim == 1:
        return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32)
    return np.stack([soxr.resample(ch, orig_sr, target_sr, quality="HQ") for ch in y]).astype(np.float32)


def save(path: str | os.PathLike[str], y: np.ndarray, *, sr: int = 22050, subtype: str | None = None) -> Path:
    """Atomically write ``y [shape=(n,)]`` (float, in [-1, 1]) to ``path``; format from the suffix."""
    from genrelab.io import atomic_path

    y = np.asarray(y, dtype=np.float32)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), y.T if y.ndim == 2 else y, sr, subtype=subtype)
    return Path(path)


_FILE_KINDS = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


def _check_file(path: Path) -> None:
    """AudioError unless ``path`` is a non-empty regular file (a FIFO would block the reader)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise AudioError(f"{path}: no such file") from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot be read ({os.strerror(exc.errno or 0) or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioError(f"{path}: is a folder, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(st.st_mode)), "special file")
        raise AudioError(f"{path}: not a regular file ({kind})")
    if st.st_size == 0:
        raise AudioError(f"{path}: empty file")


def _check_rate(path: Path, rate: int) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"{path}: sample rate {rate} Hz in its header is outside the supported "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"
        )


def _check_cost(path: Path, frames: int, channels: int, rate: int, *, part: bool) -> None:
    """Refuse, before decoding, a stretch longer than ``MAX_SECONDS`` or above ``MAX_SAMPLES``."""
    what = "the part to read" if part else "file"
    seconds = frames / rate
    if seconds > MAX_SECONDS:
        raise AudioError(
            f"{path}: {what} is too long ({seconds / 60:.1f} min at {rate} Hz, the limit is "
            f"{MAX_SECONDS / 60:g} min; read a part with offset/duration)"
        )
    if frames * channels > MAX_SAMPLES:
        raise AudioError(
            f"{path}: {what} is too large to decode ({channels} channels x {frames} frames, "
            f"the limit is {MAX_SAMPLES} samples)"
        )


_DATA_SIZE = re.compile(r"^\s*(?:data|Data Size|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


def _check_header(path: Path, fmt: str, extra_info: str) -> None:
    """Raise AudioError for what libsndfile opens without complaint but is not a whole audio file.

    - A ``.au``/``.snd`` file without the ``.snd`` magic is read as headerless 8 kHz mu-law
      (format ``RAW``), so any text file with that name would "load" as noise.
    - A WAV/AU/AIFF whose header promises more data than the file holds is read cut short; the
      header log says ``data : 132300 (should be 66128)``. Unknown-length placeholders are fine.
    """
    if fmt == "RAW":
        raise AudioError(f"{path}: not readable as audio (no audio header; headerless raw data is not accepted)")
    m = _DATA_SIZE.search(extra_info or "")
    if m:
        declared, actual = int(m.group(1)), int(m.group(2))
        if declared > actual and declared not in (0xFFFFFFFF, 0x7FFFFFFF):
            raise AudioError(f"{path}: truncated (header promises {declared} bytes of audio, file holds {actual})")


def _short(exc: Exception) -> str:
    msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    # libsndfile prefixes messages with the path; keep the reason only
    if ":" in msg and "Error opening" in msg:
        msg = msg.split(":", 1)[-1].strip()
    return msg[:200]
