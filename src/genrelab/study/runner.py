"""The study: one config in, one run folder out, resumable step by step.

Steps, in order: ``synth`` (only without data) -> ``features`` -> ``classify:<model>`` for the
configured classifiers -> ``protocols`` (honest protocols over seeds) -> ``grid`` (the source
study's grid, when enabled) -> ``recreation`` (recreation models) -> ``recreate`` (generate,
invert, reclassify) -> ``pca`` -> ``report``.

Each finished step is written to ``RUN/state.json`` with a hash of the config sections it reads
and of the steps it builds on, and its timing. A rerun skips every step whose hash is
unchanged and whose main output is still there, so a changed config reruns only what it
affects, and a killed run resumes after its last finished step (``protocols`` and ``grid``
also keep their finished cells). ``RUN/config.toml`` is the effective config.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console

from genrelab.errors import DatasetError, ParameterError
from genrelab.io import write_json
from genrelab.models import MODELS
from genrelab.rundir import RunDir
from genrelab.study.config import (
    GENERATION_FIELDS,
    ModelConfig,
    StudyConfig,
    save_config,
)
from genrelab.study.hashing import step_hash
from genrelab.study.state import StudyState

Cell = tuple[str, str, Callable[[], dict[str, Any]]]  # (key, hash, body) of one cell of a long step


def _slug(text: str) -> str:
    """``text`` as a folder name: anything but letters, digits and ``.-_`` becomes ``-``."""
    return "".join(c if c.isalnum() or c in ".-_" else "-" for c in text)


def _needs_maps(model: str) -> bool:
    """Whether classifier ``model`` trains on MFCC maps (not on the feature table)."""
    return MODELS[model].kind == "maps"


def _main_output(run: RunDir, name: str) -> Path | None:
    """The file whose absence makes a recorded step run again."""
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


def _row(model: str, metrics: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One row of ``protocols.json`` or ``grid.json`` from a model's metrics."""
    keys = ("accuracy", "accuracy_std", "track_accuracy", "macro_f1", "protocol", "repeats", "n_train", "n_test")
    return {"model": model, **extra, **{k: metrics.get(k) for k in keys}}


class _Runner:
    """Runs the steps of one study into ``run``; see the module docstring."""

    def __init__(
        self, config: StudyConfig, run: Path, *, data: Path | None, progress: bool, device: str, console: Console | None
    ) -> None:
        """A runner for ``config`` into ``run``, with the state found there (none: a fresh run)."""
        self.config, self.run, self.data_arg = config, RunDir(run), data
        self.progress, self.device = progress, device
        self.console = console if console is not None else Console(quiet=not progress)
        self.state = StudyState.load(self.run)
        self._features: Any = None
        self.data_path: Path = data if data is not None else self.run.corpus
        self.n_steps = 0

    # -- plumbing ---------------------------------------------------------------------------

    def step(self, name: str, digest: str, body: Callable[[], dict[str, Any] | None]) -> bool:
        """Run ``body`` unless the step is recorded with ``digest`` and its output exists."""
        self.n_steps += 1
        out = _main_output(self.run, name)
        if self.state.done(name, digest) and (out is None or out.exists()):
            self.console.print(f"[dim]step {self.n_steps}: {name}: unchanged, skipped[/dim]")
            return False
        self.console.rule(f"[bold]step {self.n_steps}: {name}")
        started = time.time()
        t0 = time.perf_counter()
        info = body()
        seconds = time.perf_counter() - t0
        self.state.record(name, digest, started=started, seconds=seconds, info=info)
        self.console.print(f"[green]step {self.n_steps}: {name}: done in {seconds:.1f} s[/green]")
        return True

    def note(self, name: str, why: str) -> None:
        """Count step ``name`` as not run, say why, and record that in state.json."""
        self.n_steps += 1
        self.console.print(f"[yellow]step {self.n_steps}: {name}: not run ({why})[/yellow]")
        self.state.note(name, why)

    def features(self) -> Any:
        """The FeatureSet (prepare reads its cache in the run folder when it is there)."""
        if self._features is None:
            from genrelab.features import prepare

            self._features = prepare(
                self.data_path,
                self.run.root,
                segment_maps=self.config.features.segment_maps,
                workers=self.config.features.workers,
                progress=self.progress,
            )
        return self._features

    def has_maps(self) -> bool:
        """Whether the features have MFCC maps (from the recorded features step when there is one)."""
        info = self.state.steps.get("features", {}).get("info", {})
        if "maps" in info:
            return bool(info["maps"])
        return getattr(self.features(), "maps", None) is not None

    # -- the study ----------------------------------------------------------------------------

    def go(self) -> Path:
        """Run every step in order (skipping unchanged ones); return the run folder."""
        cfg = self.config
        self.state.data["preset"] = cfg.preset
        self.state.data["data"] = str(self.data_arg) if self.data_arg is not None else None
        self.state.data["device"] = self.device
        self.state.data.pop("notes", None)
        self.state.save()
        save_config(cfg, self.run.config_toml)

        if self.data_arg is None:
            h_data = step_hash("synth", cfg.data)
            self.step("synth", h_data, self._synth)
        else:
            h_data = step_hash("data", str(self.data_arg))
        h_feat = step_hash("features", h_data, cfg.features)
        self.step("features", h_feat, self._prepare)
        clf_hashes = self._classifier_steps(h_feat)

        p = cfg.protocols
        if p.splits:
            h = step_hash("protocols", h_feat, p)
            self.step("protocols", h, lambda: self._protocols(h))
        g = cfg.grid
        if g.enabled:
            h_grid = step_hash("grid", h_feat, g)
            self.step("grid", h_grid, lambda: self._grid(h_grid))

        self._recreation_steps(h_feat, clf_hashes)
        h_report = step_hash(
            "report", cfg.report, {k: v.get("hash") for k, v in self.state.steps.items() if k != "report"}
        )
        self.step("report", h_report, self._report)
        return self.run.root

    def _classifier_steps(self, h_feat: str) -> list[str]:
        """The ``classify:<model>`` steps; returns their hashes (reclassification depends on them)."""
        c = self.config.classifiers
        maps_ok = None
        clf_hashes = []
        for name in c.models:
            mc = getattr(c, name)
            h = step_hash(f"classify:{name}", h_feat, c.repeats, c.seed, mc)
            clf_hashes.append(h)
            if _needs_maps(name):
                maps_ok = self.has_maps() if maps_ok is None else maps_ok
                if not maps_ok:
                    self.note(f"classify:{name}", "the data is a feature table: no MFCC maps")
                    continue
            self.step(f"classify:{name}", h, lambda name=name, mc=mc: self._classify(name, mc))
        return clf_hashes

    def _recreation_steps(self, h_feat: str, clf_hashes: list[str]) -> None:
        """The ``recreation``, ``recreate`` and ``pca`` steps (or a note why they do not run)."""
        r = self.config.recreation
        train_part = {k: v for k, v in asdict(r).items() if k not in GENERATION_FIELDS}
        h_rec = step_hash("recreation", h_feat, train_part)
        h_gen = step_hash("recreate", h_rec, asdict(r), clf_hashes)
        h_pca = step_hash("pca", h_gen, self.config.pca)
        if not r.models:
            self.note("recreation", "no recreation models configured")
        elif not self.has_maps():
            self.note("recreation", "the data is a feature table: no MFCC maps")
        else:
            self.step("recreation", h_rec, self._train_recreation)
            self.step("recreate", h_gen, self._recreate)
            self.step("pca", h_pca, self._pca)

    # -- step bodies ----------------------------------------------------------------------------

    def _synth(self) -> dict[str, Any]:
        """Synthesise the corpus into ``RUN/corpus`` (afresh: a changed [data] replaces it)."""
        from genrelab.data import synthesise_corpus

        d = self.config.data
        if self.run.corpus.is_dir():  # this step's own output: a changed [data] starts afresh
            shutil.rmtree(self.run.corpus)
        paths = synthesise_corpus(
            self.run.corpus,
            clips_per_genre=d.clips_per_genre,
            duration=d.duration,
            sr=d.sr,
            seed=d.seed,
            progress=self.progress,
        )
        return {"clips": len(paths)}

    def _prepare(self) -> dict[str, Any]:
        """Compute (or re-read) the features; info: table rows, maps shape, skipped clips."""
        self._features = None
        fs = self.features()
        maps = getattr(fs, "maps", None)
        info: dict[str, Any] = {"rows": len(fs.table), "maps": list(maps.maps.shape) if maps is not None else None}
        if getattr(fs, "skipped", None) is not None:
            info["skipped"] = len(fs.skipped)
        return info

    def _train(self, name: str, out: RunDir, *, plots: bool = True, **kw: Any) -> dict[str, Any]:
        """Train classifier ``name`` into run folder ``out``; its metrics."""
        from genrelab.classify import train_classifiers

        result = train_classifiers(
            self.features(), [name], out.root, device=self.device, progress=self.progress, plots=plots, **kw
        )
        return result[name]

    def _classify(self, name: str, mc: ModelConfig) -> dict[str, Any]:
        """The ``classify:<name>`` step: train into the run folder itself."""
        c = self.config.classifiers
        m = self._train(
            name,
            self.run,
            split=mc.split,
            repeats=c.repeats,
            epochs=mc.epochs,
            batch_size=mc.batch_size,
            lr=mc.lr,
            seed=c.seed,
        )
        return {"accuracy": m.get("accuracy"), "protocol": m.get("protocol")}

    def _cells(self, step: str, cells: list[Cell]) -> list[dict[str, Any]]:
        """Run the cells of a long step, keeping finished ones in state.json's ``partial``."""
        done = self.state.partial(step)
        rows = []
        for i, (key, digest, body) in enumerate(cells, 1):
            prev = done.get(key)
            if isinstance(prev, dict) and prev.get("hash") == digest:
                rows.append(prev["row"])
                continue
            self.console.print(f"  {step} {i}/{len(cells)}: {key}")
            row = body()
            done[key] = {"hash": digest, "row": row}
            self.state.save()
            rows.append(row)
        return rows

    def _protocols(self, digest: str) -> dict[str, Any]:
        """The ``protocols`` step: every split x model cell, into ``metrics/protocols.json``."""
        p = self.config.protocols
        cells: list[Cell] = []
        for split in p.splits:
            for model in p.models:
                key = f"{model}@{split}"
                cells.append(
                    (key, step_hash(key, digest), lambda model=model, split=split: self._protocol_cell(model, split))
                )
        rows = self._cells("protocols", cells)
        write_json(self.run.metrics_file("protocols"), {"seed": p.seed, "repeats": p.repeats, "rows": rows})
        return {"cells": len(rows)}

    def _protocol_cell(self, model: str, split: str) -> dict[str, Any]:
        """One protocols cell, trained into ``protocols/<split>`` (or a row saying why not)."""
        p = self.config.protocols
        if split == "fault-filtered" and self.data_arg is None:
            return {"model": model, "protocol": split, "note": "not run: the synthesised corpus has no GTZAN artists"}
        if _needs_maps(model) and not self.has_maps():
            return {"model": model, "protocol": split, "note": "not run: no MFCC maps (feature-table input)"}
        out = self.run.sub_run("protocols", _slug(split))
        try:
            m = self._train(
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

    def _grid(self, digest: str) -> dict[str, Any]:
        """The ``grid`` step: every model x split x epochs x batch cell, into ``metrics/grid.json``."""
        g = self.config.grid
        cells: list[Cell] = []
        for model in g.models:
            for split in g.splits:
                for epochs in g.epochs:
                    for batch in g.batch_sizes:
                        key = f"{model}@{split}/e{epochs}/b{batch}"
                        cells.append(
                            (
                                key,
                                step_hash(key, digest),
                                lambda model=model, split=split, epochs=epochs, batch=batch: self._grid_cell(
                                    model, split, epochs, batch
                                ),
                            )
                        )
        rows = self._cells("grid", cells)
        write_json(self.run.metrics_file("grid"), {"lr": g.lr, "seed": g.seed, "rows": rows})
        return {"cells": len(rows)}

    def _grid_cell(self, model: str, split: str, epochs: int, batch: int) -> dict[str, Any]:
        """One grid cell, trained into ``grid/<model>_<split>_e<epochs>_b<batch>``."""
        g = self.config.grid
        if _needs_maps(model) and not self.has_maps():
            return {
                "model": model,
                "split": split,
                "epochs": epochs,
                "batch_size": batch,
                "lr": g.lr,
                "note": "not run: no MFCC maps",
            }
        out = self.run.sub_run("grid", _slug(f"{model}_{split}_e{epochs}_b{batch}"))
        m = self._train(
            model, out, split=split, repeats=1, epochs=epochs, batch_size=batch, lr=g.lr, seed=g.seed, plots=False
        )
        return _row(model, m, split=split, epochs=epochs, batch_size=batch, lr=g.lr)

    def _train_recreation(self) -> dict[str, Any]:
        """The ``recreation`` step: train the recreation models into the run folder."""
        from genrelab.recreation import train_recreation

        r = self.config.recreation
        result = train_recreation(
            self.features(),
            list(r.models),
            self.run.root,
            epochs=r.epochs,
            batch_size=r.batch_size,
            lr=r.lr,
            val_fraction=r.val_fraction,
            seed=r.seed,
            device=self.device,
            progress=self.progress,
        )
        return {name: {"val_mse": m.get("val_mse")} for name, m in result.items()}

    def _recreate(self) -> dict[str, Any]:
        """The ``recreate`` step: generate, invert and reclassify into ``recreated/`` (afresh)."""
        from genrelab.recreation import recreate

        r = self.config.recreation
        if self.run.recreated.is_dir():  # this step's own output: clips of an older config go
            shutil.rmtree(self.run.recreated)
        kw: dict[str, Any] = {}
        if r.temperature is not None:  # None: recreate's own default temperature
            kw["temperature"] = r.temperature
        recreate(
            self.run.root,
            genres=tuple(r.genres),
            per_genre=r.per_genre,
            seconds=r.seconds,
            models=tuple(m.removeprefix("recreate-") for m in r.models),
            guidance=r.guidance,
            seed=r.generate_seed,
            device=self.device,
            progress=self.progress,
            **kw,
        )
        return {}

    def _pca(self) -> dict[str, Any]:
        """The ``pca`` step: PCA of the recreated clips (the recreation genres unless [pca] names some)."""
        from genrelab.analysis import run_pca

        genres = self.config.pca.genres or self.config.recreation.genres
        run_pca(self.run.root, genres=tuple(genres), progress=self.progress)
        return {}

    def _report(self) -> dict[str, Any]:
        """The ``report`` step: ``report.html``."""
        from genrelab.report import render_report

        rc = self.config.report
        path = render_report(
            self.run.root,
            title=rc.title,
            audio_format=rc.audio_format,
            players_per_genre=rc.players_per_genre,
            include_audio=rc.include_audio,
        )
        return {"bytes": path.stat().st_size}


def run_study(
    config: StudyConfig,
    out: Path,
    *,
    data: Path | None = None,
    progress: bool = True,
    device: str = "cpu",
    console: Console | None = None,
) -> Path:
    """Run (or resume) the study described by ``config`` into the run folder ``out``.

    ``data`` is an audio folder in any supported layout or a feature CSV in the public layout;
    ``None`` synthesises the corpus into ``out/corpus/``. Returns ``out``; the report is
    ``out/report.html``.
    """
    if not isinstance(config, StudyConfig):
        raise ParameterError(f"config must be a StudyConfig, got {type(config).__name__}")
    out = Path(out)
    if data is not None:
        data = Path(data).expanduser().resolve()
        if not data.exists():
            raise DatasetError(f"data folder {str(data)!r} does not exist")
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {str(out)!r} is a file; give a folder for the run")
    out.mkdir(parents=True, exist_ok=True)
    return _Runner(config, out, data=data, progress=progress, device=device, console=console).go()


def study_state(run: Path) -> dict[str, Any]:
    """The content of ``run/state.json`` (empty when there is none)."""
    return StudyState.load(Path(run)).data


__all__ = ["run_study", "study_state"]
