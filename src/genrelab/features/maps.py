"""MFCC maps for the map models (CNN, ConvLSTM, recreation): one ``.npz`` beside the table."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrelab.errors import DatasetError
from genrelab.io import write_with

_KEYS = ("maps", "filename", "track", "label", "segment")


@dataclass
class MapSet:
    """MFCC maps with the clip, track, label and segment index of each map."""

    maps: np.ndarray  # (N, n_mfcc, frames) float32, raw MFCC values (not normalised)
    filename: np.ndarray  # (N,) str, e.g. "blues.00012.3.wav"
    track: np.ndarray  # (N,) str track ids
    label: np.ndarray  # (N,) str
    segment: np.ndarray  # (N,) int (0 for whole clips)

    def __post_init__(self) -> None:
        self.maps = np.asarray(self.maps, dtype=np.float32)
        self.filename = np.asarray(self.filename, dtype=str)
        self.track = np.asarray(self.track, dtype=str)
        self.label = np.asarray(self.label, dtype=str)
        self.segment = np.asarray(self.segment, dtype=np.int64)
        n = self.maps.shape[0] if self.maps.ndim == 3 else -1
        if self.maps.ndim != 3:
            raise DatasetError(f"maps must have shape (N, n_mfcc, frames); got {self.maps.shape}")
        for name in _KEYS[1:]:
            if getattr(self, name).shape != (n,):
                raise DatasetError(f"MapSet.{name} has shape {getattr(self, name).shape}; expected ({n},)")

    def __len__(self) -> int:
        return int(self.maps.shape[0])


def save_maps(path: str | os.PathLike[str], maps: MapSet) -> None:
    """Atomically write ``maps`` to ``path`` (a ``.npz``, no pickles).

    The same maps always give the same bytes (``np.savez`` stamps each member with the time),
    so the study's fingerprint of ``maps.npz`` survives a rewrite by a resumed run.
    """
    arrays = {k: getattr(maps, k) for k in _KEYS}
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
            return MapSet(**{k: z[k] for k in _KEYS})
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(f"maps file {path} is not readable as .npz ({exc})") from None
