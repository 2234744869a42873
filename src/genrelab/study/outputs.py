"""What each study step writes, and whether it still reads back.

When a step finishes, the runner records a fingerprint of each of its outputs in
``RUN/state.json``: the SHA-256 of a file, or for a folder of many clips (``corpus/``,
``recreated/``) a hash of its file names and sizes. A resumed step counts as done only when
every recorded output is still there with the same fingerprint, so a truncated
``features.csv`` or a corrupt ``metrics/dense.json`` makes its step (and, through
:func:`fingerprint_of`, the steps built on it) run again. Entries recorded before fingerprints
existed fall back to :func:`reads_back`: the step's main file is there and parses.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from genrelab.rundir import RunDir
from genrelab.study.hashing import digest

_CHUNK = 1 << 20


def step_outputs(run: RunDir, name: str, *, recreation_models: tuple[str, ...] = ()) -> list[Path]:
    """The files and folders step ``name`` writes (those present afterwards are recorded)."""
    if name.startswith("classify:"):
        model = name.split(":", 1)[1]
        return [run.model(model), run.metrics_file(model)]
    if name == "recreation":
        return [p for m in recreation_models for p in (run.model(m), run.metrics_file(m))]
    return {
        "synth": [run.corpus],
        "features": [run.features_csv, run.maps_npz, run.clips_csv, run.skipped_csv],
        "protocols": [run.metrics_file("protocols")],
        "grid": [run.metrics_file("grid")],
        "recreate": [run.metrics_file("fidelity"), run.recreated],
        "pca": [run.metrics_file("pca")],
        "report": [run.report_html],
    }.get(name, [])


def main_output(run: RunDir, name: str) -> Path | None:
    """The file whose absence (or failure to parse) reruns a step recorded without fingerprints."""
    if name.startswith("classify:"):
        return run.metrics_file(name.split(":", 1)[1])
    return {
        "synth": run.corpus,
        "features": run.features_csv,
        "protocols": run.metrics_file("protocols"),
        "grid": run.metrics_file("grid"),
        "recreate": run.metrics_file("fidelity"),
        "pca": run.metrics_file("pca"),
        "report": run.report_html,
    }.get(name)


def fingerprint(path: Path) -> str:
    """SHA-256 of a file; for a folder, a hash of its files' relative names and sizes."""
    if path.is_dir():
        listing = []
        for folder, _dirs, files in os.walk(path):
            for f in files:
                p = Path(folder) / f
                listing.append((p.relative_to(path).as_posix(), p.stat().st_size))
        return "dir:" + digest(sorted(listing))
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def record_outputs(run: RunDir, paths: list[Path]) -> dict[str, str]:
    """``{path relative to the run: fingerprint}`` of those of ``paths`` that exist."""
    return {p.relative_to(run.root).as_posix(): fingerprint(p) for p in paths if p.exists()}


def changed_outputs(run: RunDir, recorded: dict[str, str]) -> list[str]:
    """The recorded outputs that are missing or no longer match their fingerprint."""
    bad = []
    for rel, want in recorded.items():
        path = run.root / rel
        try:
            ok = path.exists() and fingerprint(path) == want
        except OSError:
            ok = False
        if not ok:
            bad.append(rel)
    return bad


def reads_back(path: Path) -> bool:
    """Whether ``path`` exists and, for JSON, CSV and HTML, parses (a check without fingerprints)."""
    if not path.exists():
        return False
    if path.is_dir():
        return True
    try:
        if path.suffix == ".json":
            return isinstance(json.loads(path.read_text(encoding="utf-8")), dict)
        if path.suffix == ".csv":
            import pandas as pd

            return not pd.read_csv(path).empty
        if path.suffix == ".html":
            return path.read_text(encoding="utf-8").rstrip().endswith("</html>")
    except (OSError, ValueError):
        return False
    return True


def fingerprint_of(entry: Any) -> str | None:
    """One hash of a recorded step's outputs (what the steps built on it compare), or None."""
    if not isinstance(entry, dict):
        return None
    outputs = entry.get("outputs")
    return digest(outputs) if isinstance(outputs, dict) else entry.get("hash")


__all__ = [
    "changed_outputs",
    "fingerprint",
    "fingerprint_of",
    "main_output",
    "reads_back",
    "record_outputs",
    "step_outputs",
]
