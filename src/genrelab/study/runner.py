"""The study: one config in, one run folder out, resumable step by step.

Steps, in order: ``synth`` (only without data) -> ``features`` -> ``classify:<model>`` for the
configured classifiers -> ``protocols`` (honest protocols over seeds) -> ``grid`` (the source
study's grid, when enabled) -> ``recreation`` (recreation models) -> ``recreate`` (generate,
invert, reclassify) -> ``pca`` -> ``report``.

Each finished step is written to ``RUN/state.json`` with a hash of the config sections it reads
and of the steps it builds on, fingerprints of the files it wrote and of the outputs of the
steps it read (:mod:`genrelab.study.outputs`), and its timing. A rerun skips every step whose
hash is unchanged, whose outputs still match their fingerprints and whose inputs are the ones
it was made from, so a changed config reruns only what it affects, a corrupt or truncated
output reruns its step and the steps built on it, and a killed run resumes after its last
finished step (``protocols`` and ``grid`` also keep their finished cells).
``RUN/config.toml`` is the effective config.

A run holds ``RUN/.lock`` (:func:`genrelab.io.folder_lock`) from start to end: a second study
on the same folder stops at once with one sentence. At start, under the lock, atomic-write
temporaries older than this process (left by a killed run) are removed. Right after the
features step every split the study will make is checked against the corpus
(:mod:`genrelab.study.feasibility`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console

from genrelab.errors import DatasetError, ParameterError
from genrelab.io import folder_lock, remove_stale_temporaries
from genrelab.rundir import RunDir
from genrelab.study import long_steps
from genrelab.study.config import (
    GENERATION_FIELDS,
    ModelConfig,
    StudyConfig,
    save_config,
)
from genrelab.study.feasibility import check_splits
from genrelab.study.hashing import step_hash
from genrelab.study.long_steps import Cell, needs_maps
from genrelab.study.outputs import fingerprint_of, main_output, record_outputs, step_outputs
from genrelab.study.state import StudyState

PROCESS_START = time.time()  # temporaries older than this are left by an earlier (killed) process


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
        self._inputs: dict[str, str | None] = {}  # the upstream fingerprints of the running step

    # -- plumbing ---------------------------------------------------------------------------

    def step(
        self, name: str, digest: str, body: Callable[[], dict[str, Any] | None], *, after: Sequence[str] = ()
    ) -> bool:
        """Run ``body`` unless the step's record is still good (see :meth:`StudyState.stale`).

        ``after``: the steps whose outputs this one reads; their fingerprints are recorded with it.
        """
        self.n_steps += 1
        steps = self.state.steps
        inputs = {u: fingerprint_of(steps[u]) for u in after if u in steps}
        why = self.state.stale(name, digest, self.run, inputs=inputs, main=main_output(self.run, name))
        if why is None:
            self.console.print(f"[dim]step {self.n_steps}: {name}: unchanged, skipped[/dim]")
            return False
        if name in steps:
            self.console.print(f"[yellow]step {self.n_steps}: {name}: runs again: {why}[/yellow]")
        self.console.rule(f"[bold]step {self.n_steps}: {name}")
        started = time.time()
        t0 = time.perf_counter()
        self._inputs = inputs
        info = body()
        seconds = time.perf_counter() - t0
        outputs = record_outputs(
            self.run, step_outputs(self.run, name, recreation_models=self.config.recreation.models)
        )
        self.state.record(name, digest, started=started, seconds=seconds, info=info, outputs=outputs, inputs=inputs)
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
                pad=self.config.features.pad,
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
        self.step("features", h_feat, self._prepare, after=["synth"])
        check_splits(cfg, self.run, has_maps=self.has_maps())
        clf_hashes = self._classifier_steps(h_feat)

        p = cfg.protocols
        if p.splits:
            h = step_hash("protocols", h_feat, p)
            self.step("protocols", h, lambda: long_steps.protocols(self, h), after=["features"])
        g = cfg.grid
        if g.enabled:
            h_grid = step_hash("grid", h_feat, g)
            self.step("grid", h_grid, lambda: long_steps.grid(self, h_grid), after=["features"])

        self._recreation_steps(h_feat, clf_hashes)
        others = [k for k in self.state.steps if k != "report"]
        h_report = step_hash("report", cfg.report, {k: self.state.steps[k].get("hash") for k in others})
        self.step("report", h_report, self._report, after=others)
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
            if needs_maps(name):
                maps_ok = self.has_maps() if maps_ok is None else maps_ok
                if not maps_ok:
                    self.note(f"classify:{name}", "the data is a feature table: no MFCC maps")
                    continue
            self.step(f"classify:{name}", h, lambda name=name, mc=mc: self._classify(name, mc), after=["features"])
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
            clf_steps = [f"classify:{name}" for name in self.config.classifiers.models]
            self.step("recreation", h_rec, self._train_recreation, after=["features"])
            self.step("recreate", h_gen, self._recreate, after=["recreation", *clf_steps])
            self.step("pca", h_pca, self._pca, after=["recreate"])

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
        """Run the cells of a long step, keeping finished ones in state.json's ``partial``.

        A cell's record holds the hash of the step's inputs too: cells made from features that
        have been made again since are run again.
        """
        done = self.state.partial(step)
        rows = []
        for i, (key, cell_digest, body) in enumerate(cells, 1):
            digest = step_hash(cell_digest, self._inputs)
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
            config={"diffusion": {"steps": r.diffusion_steps}},
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
            judge=r.judge,
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
    with folder_lock(out, what="run folder"):
        removed = remove_stale_temporaries(out, older_than=PROCESS_START)
        runner = _Runner(config, out, data=data, progress=progress, device=device, console=console)
        if removed:
            runner.console.print(f"[dim]removed {len(removed)} temporary file(s) left by an interrupted run[/dim]")
        return runner.go()


def study_state(run: Path) -> dict[str, Any]:
    """The content of ``run/state.json`` (empty when there is none)."""
    return StudyState.load(Path(run)).data


__all__ = ["run_study", "study_state"]
