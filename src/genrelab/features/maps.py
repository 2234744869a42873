"""MFCC maps for the map models (CNN, ConvLSTM, recreation): one ``.npz`` beside the table.

Each map records whether its clip was shorter than a segment and padded (``padded``) and the
seconds of audio behind it (``seconds``); the set records its ``segment_seconds``.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrelab.constants import HOP_LENGTH, SR
from genrelab.errors import DatasetError
from genrelab.io import write_with

_KEYS = ("maps", "filename", "track", "label", "segment")
_OPTIONAL = ("padded", "seconds", "segment_seconds", "pad")  # absent from maps written before #13


@dataclass
class MapSet:
    """MFCC maps with the clip, track, label and segment index of each map."""

    maps: np.ndarray  # (N, n_mfcc, frames) float32, raw MFCC values (not normalised)
    filename: np.ndarray  # (N,) str, e.g. "blues.00012.3.wav"
    track: np.ndarray  # (N,) str track ids
    label: np.ndarray  # (N,) str
    segment: np.ndarray  # (N,) int (0 for whole clips)
    padded: np.ndarray | None = None  # (N,) bool: the clip was shorter than a segment and padded (None: none)
    seconds: np.ndarray | None = None  # (N,) float: seconds of audio behind each map (None: the segment's)
    segment_seconds: float | None = None  # the segment length the maps were cut at (None: unknown, per clip)
    pad: str | None = None  # how clips shorter than a segment were padded (genrelab.features.lengths.PAD_MODES)

    def __post_init__(self) -> None:
        self.maps = np.asarray(self.maps, dtype=np.float32)
        self.filename = np.asarray(self.filename, dtype=str)
        self.track = np.asarray(self.track, dtype=str)
        self.label = np.asarray(self.label, dtype=str)
        self.segment = np.asarray(self.segment, dtype=np.int64)
        n = self.maps.shape[0] if self.maps.ndim == 3 else -1
        if self.maps.ndim != 3:
            raise DatasetError(f"maps must have shape (N, n_mfcc, frames); got {self.maps.shape}")
        if self.segment_seconds is not None:
            self.segment_seconds = float(self.segment_seconds)
        self.padded = np.zeros(n, dtype=bool) if self.padded is None else np.asarray(self.padded, dtype=bool)
        if self.seconds is None:
            hop_s = HOP_LENGTH / SR
            full = self.segment_seconds if self.segment_seconds else (self.maps.shape[2] - 1) * hop_s
            self.seconds = np.full(n, full, dtype=np.float64)
        self.seconds = np.asarray(self.seconds, dtype=np.float64)
        for name in (*_KEYS[1:], "padded", "seconds"):
            if getattr(self, name).shape != (n,):
                raise DatasetError(f"MapSet.{name} has shape {getattr(self, name).shape}; expected ({n},)")

    def __len__(self) -> int:
        return int(self.maps.shape[0])


def save_maps(path: str | os.PathLike[str], maps: MapSet) -> None:
    """Atomically write ``maps`` to ``path`` (a ``.npz``, no pickles).

    The same maps always give the same bytes (``np.savez`` stamps each member with the time),
    so the study's fingerprint of ``maps.npz`` survives a rewrite by a resumed run.
    """
    arrays = {k: getattr(maps, k) for k in (*_KEYS, "padded", "seconds")}
    if maps.segment_seconds is not None:
        arrays["segment_seconds"] = np.float64(maps.segment_seconds)
    if maps.pad is not None:
        arrays["pad"] = np.str_(maps.pad)
    write_with(path, lambda tmp: _write_npz(tmp, arrays))


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed ``.npz`` like ``np.savez`` writes, with a fixed member time stamp."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)


def load_maps(path: str | os.PathLike[str]) -> MapSet:
    """Read a maps ``.npz`` written by :func:`save_maps`; DatasetError naming what is missing."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"maps file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in _KEYS if k not in z.files]
            if missing:
                raise DatasetError(f"maps file {path} lacks arrays {missing}; expected {list(_KEYS)}")
            extra = {k: z[k] for k in _OPTIONAL if k in z.files}
            if "segment_seconds" in extra:
                extra["segment_seconds"] = float(extra["segment_seconds"])
            if "pad" in extra:
                extra["pad"] = str(extra["pad"])
            return MapSet(**{k: z[k] for k in _KEYS}, **extra)
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(f"maps file {path} is not readable as .npz ({exc})") from None
