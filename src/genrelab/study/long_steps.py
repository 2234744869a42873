"""The study's two long steps, ``protocols`` and ``grid``: many small trainings ("cells").

Each cell trains one model into a nested run folder (``protocols/<split>``,
``grid/<model>_<split>_e<E>_b<B>``) and gives one row of ``metrics/protocols.json`` or
``metrics/grid.json``; the runner keeps finished cells in ``state.json`` so a killed step
resumes at its first unfinished cell.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from genrelab.errors import DatasetError
from genrelab.io import write_json
from genrelab.models import MODELS
from genrelab.study.hashing import step_hash

if TYPE_CHECKING:
    from genrelab.study.runner import _Runner

Cell = tuple[str, str, Callable[[], dict[str, Any]]]  # (key, hash, body) of one cell of a long step


def slug(text: str) -> str:
    """``text`` as a folder name: anything but letters, digits and ``.-_`` becomes ``-``."""
    return "".join(c if c.isalnum() or c in ".-_" else "-" for c in text)


def needs_maps(model: str) -> bool:
    """Whether classifier ``model`` trains on MFCC maps (not on the feature table)."""
    return MODELS[model].kind == "maps"


def _row(model: str, metrics: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One row of ``protocols.json`` or ``grid.json`` from a model's metrics."""
    keys = ("accuracy", "accuracy_std", "track_accuracy", "macro_f1", "protocol", "repeats", "n_train", "n_test")
    return {"model": model, **extra, **{k: metrics.get(k) for k in keys}}


def protocols(runner: _Runner, digest: str) -> dict[str, Any]:
    """The ``protocols`` step: every split x model cell, into ``metrics/protocols.json``."""
    p = runner.config.protocols
    cells: list[Cell] = []
    for split in p.splits:
        for model in p.models:
            key = f"{model}@{split}"
            cells.append((key, step_hash(key, digest), functools.partial(_protocol_cell, runner, model, split)))
    rows = runner._cells("protocols", cells)
    write_json(runner.run.metrics_file("protocols"), {"seed": p.seed, "repeats": p.repeats, "rows": rows})
    return {"cells": len(rows)}


def _protocol_cell(runner: _Runner, model: str, split: str) -> dict[str, Any]:
    """One protocols cell, trained into ``protocols/<split>`` (or a row saying why not)."""
    p = runner.config.protocols
    if split == "fault-filtered" and runner.data_arg is None:
        return {"model": model, "protocol": split, "note": "not run: the synthesised corpus has no GTZAN artists"}
    if needs_maps(model) and not runner.has_maps():
        return {"model": model, "protocol": split, "note": "not run: no MFCC maps (feature-table input)"}
    out = runner.run.sub_run("protocols", slug(split))
    try:
        m = runner._train(
            model,
            out,
            split=split,
            repeats=p.repeats,
            epochs=p.epochs,
            batch_size=p.batch_size,
            lr=p.lr,
            seed=p.seed,
            plots=False,
        )
    except DatasetError as exc:  # e.g. fault-filtered on a collection without GTZAN names
        return {"model": model, "protocol": split, "note": f"not run: {exc}"}
    return _row(model, m, note="")


def grid(runner: _Runner, digest: str) -> dict[str, Any]:
    """The ``grid`` step: every model x split x epochs x batch cell, into ``metrics/grid.json``."""
    g = runner.config.grid
    cells: list[Cell] = []
    for model in g.models:
        for split in g.splits:
            for epochs in g.epochs:
                for batch in g.batch_sizes:
                    key = f"{model}@{split}/e{epochs}/b{batch}"
                    body = functools.partial(_grid_cell, runner, model, split, epochs, batch)
                    cells.append((key, step_hash(key, digest), body))
    rows = runner._cells("grid", cells)
    write_json(runner.run.metrics_file("grid"), {"lr": g.lr, "seed": g.seed, "rows": rows})
    return {"cells": len(rows)}


def _grid_cell(runner: _Runner, model: str, split: str, epochs: int, batch: int) -> dict[str, Any]:
    """One grid cell, trained into ``grid/<model>_<split>_e<epochs>_b<batch>``."""
    g = runner.config.grid
    if needs_maps(model) and not runner.has_maps():
        return {
            "model": model,
            "split": split,
            "epochs": epochs,
            "batch_size": batch,
            "lr": g.lr,
            "note": "not run: no MFCC maps",
        }
    out = runner.run.sub_run("grid", slug(f"{model}_{split}_e{epochs}_b{batch}"))
    m = runner._train(
        model, out, split=split, repeats=1, epochs=epochs, batch_size=batch, lr=g.lr, seed=g.seed, plots=False
    )
    return _row(model, m, split=split, epochs=epochs, batch_size=batch, lr=g.lr)


__all__ = ["Cell", "grid", "needs_maps", "protocols", "slug"]
