"""Every path of a run folder in one place, and reading and writing its metrics.

```
RUN/
  config.toml  state.json  report.html
  corpus/                 the synthesised corpus (a study without DATA)
  features/               features.csv (+ .parquet), maps.npz, clips.csv, skipped.csv
  models/<model>.pt       metrics/<model>.json       plots/<name>.png
  recreated/<source>/<genre>/<genre>.NN.wav
  protocols/  grid/  evaluations/<set>/
```

Other modules ask a :class:`RunDir` for a path instead of joining folder names by hand, so the
layout can be read (and changed) here alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genrelab.errors import DatasetError
from genrelab.io import read_json, write_json

__all__ = ["RunDir", "RunPath"]


@dataclass(frozen=True)
class RunDir:
    """A run folder. ``RunDir(path)``; ``str(run)`` and ``os.fspath(run)`` give the folder."""

    root: Path

    def __init__(self, root: "RunPath") -> None:
        object.__setattr__(self, "root", Path(root.root if isinstance(root, RunDir) else root))

    def __fspath__(self) -> str:
        return os.fspath(self.root)

    def __str__(self) -> str:
        return str(self.root)

    # folders ---------------------------------------------------------------------------------
    @property
    def features(self) -> Path:
        return self.root / "features"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def recreated(self) -> Path:
        return self.root / "recreated"

    @property
    def corpus(self) -> Path:
        return self.root / "corpus"

    def sub_run(self, kind: str, name: str) -> "RunDir":
        """A nested run folder: ``protocols/<name>``, ``grid/<name>`` or ``evaluations/<name>``."""
        if kind not in ("protocols", "grid", "evaluations"):
            raise ValueError(f"unknown sub-run kind {kind!r}")
        return RunDir(self.root / kind / name)

    # files -----------------------------------------------------------------------------------
    @property
    def config_toml(self) -> Path:
        return self.root / "config.toml"

    @property
    def state_json(self) -> Path:
        return self.root / "state.json"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def features_csv(self) -> Path:
        return self.features / "features.csv"

    @property
    def maps_npz(self) -> Path:
        return self.features / "maps.npz"

    @property
    def clips_csv(self) -> Path:
        return self.features / "clips.csv"

    @property
    def skipped_csv(self) -> Path:
        return self.features / "skipped.csv"

    def model(self, name: str) -> Path:
        """``models/<name>.pt``."""
        return self.models / f"{name}.pt"

    def metrics_file(self, name: str) -> Path:
        """``metrics/<name>.json`` (``fidelity``, ``pca``, ``protocols``, ``grid`` or a model name)."""
        return self.metrics / f"{name}.json"

    def plot(self, name: str) -> Path:
        """``plots/<name>.png``."""
        return self.plots / f"{name}.png"

    def recreated_folder(self, source: str, genre: str) -> Path:
        """``recreated/<source>/<genre>/``."""
        return self.recreated / source / genre

    # reading and writing -----------------------------------------------------------------------
    def require(self) -> "RunDir":
        """This run, after checking that its folder exists (DatasetError otherwise)."""
        if not self.root.is_dir():
            raise DatasetError(f"run folder {self.root} does not exist")
        return self

    def has_model(self, name: str) -> bool:
        return self.model(name).is_file()

    def read_metrics(self, name: str) -> dict[str, Any] | None:
        """``metrics/<name>.json`` as a dict, or None when it is absent (DatasetError when unreadable)."""
        path = self.metrics_file(name)
        if not path.is_file():
            return None
        try:
            data = read_json(path)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path} is not readable JSON ({exc})") from None
        if not isinstance(data, dict):
            raise DatasetError(f"{path} does not hold a JSON object")
        return data

    def write_metrics(self, name: str, data: dict[str, Any]) -> Path:
        """Write ``metrics/<name>.json`` atomically; return its path."""
        return write_json(self.metrics_file(name), data)


RunPath = str | os.PathLike[str] | RunDir  # what every function taking a run folder accepts
