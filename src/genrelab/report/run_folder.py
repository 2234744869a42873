"""What the report reads: the files of one run folder, loaded once, and the render options.

Readers return None for a file that is missing or unreadable, so a section can say "not run"
instead of failing; :attr:`RunFolder.unreadable` lists the files that are there but corrupt or
cut short, and the page names them at the top.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genrelab.models import MODELS
from genrelab.rundir import RunDir

if TYPE_CHECKING:
    import pandas as pd

# The models whose metrics/<name>.json the report shows, in the registry's order.
CLASSIFIERS: tuple[str, ...] = tuple(n for n, s in MODELS.items() if s.kind in ("features", "maps"))
RECREATION: tuple[str, ...] = tuple(n for n, s in MODELS.items() if s.kind == "recreation")


def read_json(path: Path) -> Any | None:
    """A JSON file's content, or None when missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_csv(path: Path) -> pd.DataFrame | None:
    """A CSV as a DataFrame, or None when missing, unreadable or cut short (see :func:`csv_whole`)."""
    import pandas as pd

    if not path.is_file() or not csv_whole(path):
        return None
    try:
        return pd.read_csv(path)
    except (OSError, ValueError):
        return None


def csv_whole(path: Path) -> bool:
    """Whether a CSV written by pandas is whole: it ends with a line break (a cut-short one does not)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            if fh.tell() == 0:
                return False
            fh.seek(-1, 2)
            return fh.read(1) in (b"\n", b"\r")
    except OSError:
        return False


def npz_shape(path: Path, key: str = "maps") -> tuple[int, ...] | None:
    """Shape of one array in an .npz, read from its header only."""
    import numpy as np

    try:
        with zipfile.ZipFile(path) as zf, zf.open(f"{key}.npy") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, _ = read(fh)
            return tuple(int(s) for s in shape)
    except (OSError, KeyError, ValueError, AttributeError, zipfile.BadZipFile):
        return None


@dataclass(frozen=True)
class AudioOptions:
    """How recreated clips are inlined: codec (``"ogg"`` or ``"flac"``), players per genre, at all."""

    fmt: str = "ogg"
    players_per_genre: int = 2
    include: bool = True


class RunFolder:
    """Cached access to the files of one run folder (and the options the sections need)."""

    def __init__(self, run_dir: Path, *, audio: AudioOptions | None = None) -> None:
        self.dir = run_dir
        self.paths = RunDir(run_dir)
        self.audio = audio or AudioOptions()
        self.state = read_json(self.paths.state_json) or {}
        self.metrics: dict[str, Any] = {p.stem: read_json(p) for p in sorted(self.paths.metrics.glob("*.json"))}
        self.unreadable: list[str] = [f"metrics/{k}.json" for k, v in self.metrics.items() if v is None]
        csvs = (self.paths.features_csv, self.paths.clips_csv, self.paths.skipped_csv)
        self.unreadable += [p.relative_to(run_dir).as_posix() for p in csvs if p.is_file() and read_csv(p) is None]
        if self.paths.state_json.is_file() and not self.state:
            self.unreadable.append("state.json")

    def plot(self, name: str) -> Path:
        """Path of ``plots/<name>`` (it may not exist)."""
        return self.paths.plots / name

    def steps(self) -> dict[str, Any]:
        """The study's step record from ``state.json`` (empty when absent)."""
        return self.state.get("steps", {}) if isinstance(self.state, dict) else {}

    def metric(self, name: str) -> dict[str, Any] | None:
        """``metrics/<name>.json`` when it holds a JSON object, else None."""
        m = self.metrics.get(name)
        return m if isinstance(m, dict) else None
