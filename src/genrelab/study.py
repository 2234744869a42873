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

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from rich.console import Console

from genrelab.config import GENERATION_FIELDS, StudyConfig, save_config, step_hash
from genrelab.errors import DatasetError, ParameterError
from genrelab.io import read_json, write_json

STATE_VERSION = 1


@dataclass
class _State:
    """``RUN/state.json``: finished steps with hash and timing, plus partial cells of long steps."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, run: Path) -> "_State":
        path = run / "state.json"
        data: dict[str, Any] = {}
        if path.is_file():
            try:
                data = read_json(path)
            except ValueError:
                data = {}
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            data = {}
        data.setdefault("version", STATE_VERSION)
        data.setdefault("steps", {})
        data.setdefault("partial", {})
        return cls(path, data)

    @property
    def steps(self) -> dict[str, Any]:
        return self.data["steps"]

    def done(self, name: str, digest: str) -> bool:
        entry = self.steps.get(name)
        return isinstance(entry, dict) and entry.get("hash") == digest

    def record(self, name: str, digest: str, *, started: float, seconds: float, info: dict | None = None) -> None:
        self.steps[name] = {
            "hash": digest,
            "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(seconds, 3),
            **({"info": info} if info else {}),
        }
        self.data["partial"].pop(name, None)
        self.save()

    def partial(self, name: str) -> dict[str, Any]:
        return self.data["partial"].setdefault(name, {})

    def save(self) -> None:
        write_json(self.path, self.data)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in ".-_" else "-" for c in text)


def _main_output(run: Path, name: str) -> Path | None:
    """The file whose absence makes a recorded step run again."""
    if name.startswith("classify:"):
        return run / "metrics" / f"{name.split(':', 1)[1]}.json"
    return {
        "synth": run / "corpus",
        "features": run / "features" / "features.csv",
        "protocols": run / "metrics" / "protocols.json",
        "grid": run / "metrics" / "grid.json",
        "recreate": run / "metrics" / "fidelity.json",
        "pca": run / "metrics" / "pca.json",
        "report": run / "report.html",
    }.get(name)


def _row(model: str, metrics: dict[str, Any], **extra: Any) -> dict[str, Any]:
    keys = ("accuracy", "accuracy_std", "track_accuracy", "macro_f1", "protocol", "repeats", "n_train", "n_test")
    return {"model": model, **extra, **{k: metrics.get(k) for k in keys}}


class _Runner:
    """Runs the steps of one study into ``run``; see the module docstring."""

    def __init__(self, config: StudyConfig, run: Path, *, data: Path | None, progress: bool, device: str,
                 console: Console | None):
        self.config, self.run, self.data_arg = config, run, data
        self.progress, self.device = progress, device
        self.console = console if console is not None else Console(quiet=not progress)
        self.state = _State.load(run)
        self._features = None
        self.data_path: Path = data if data is not None else run / "corpus"
        self.n_steps = 0

    # -- plumbing ---------------------------------------------------------------------------

    def step(self, name: str, digest: str, body: Callable[[], dict | None]) -> bool:
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
        self.n_steps += 1
        self.console.print(f"[yellow]step {self.n_steps}: {name}: not run ({why})[/yellow]")
        self.state.data.setdefault("notes", {})[name] = why
        self.state.steps.pop(name, None)
        self.state.save()

    def features(self):
        """The FeatureSet (prepare reads its cache in the run folder when it is there)."""
        if self._features is None:
            from genrelab.features import prepare

            self._features = prepare(self.data_path, self.run, segment_maps=self.config.features.segment_maps,
                                     workers=self.config.features.workers, progress=self.progress)
        return self._features

    def has_maps(self) -> bool:
        """Whether the features have MFCC maps (from the recorded features step when there is one)."""
        info = self.state.steps.get("features", {}).get("info", {})
        if "maps" in info:
            return bool(info["maps"])
        return getattr(self.features(), "maps", None) is not None

    # -- the study ----------------------------------------------------------------------------

    def go(self) -> Path:
        cfg = self.config
        self.state.data["preset"] = cfg.preset
        self.state.data["data"] = str(self.data_arg) if self.data_arg is not None else None
        self.state.data["device"] = self.device
        self.state.data.pop("notes", None)
        self.state.save()
        save_config(cfg, self.run / "config.toml")

        if self.data_arg is None:
            h_data = step_hash("synth", cfg.data)
            self.step("synth", h_data, self._synth)
        else:
            h_data = step_hash("data", str(self.data_arg))
        h_feat = step_hash("features", h_data, cfg.features)
        self.step("features", h_feat, self._prepare)

        c = cfg.classifiers
        maps_ok = None
        clf_hashes = []
        for name in c.models:
            mc = getattr(c, name)
            h = step_hash(f"classify:{name}", h_feat, c.repeats, c.seed, mc)
            clf_hashes.append(h)
            if name != "dense":
                maps_ok = self.has_maps() if maps_ok is None else maps_ok
                if not maps_ok:
                    self.note(f"classify:{name}", "the data is a feature table: no MFCC maps")
                    continue
            self.step(f"classify:{name}", h, lambda name=name, mc=mc: self._classify(name, mc))

        p = cfg.protocols
        if p.splits:
            h = step_hash("protocols", h_feat, p)
            self.step("protocols", h, lambda: self._protocols(h))
        g = cfg.grid
        if g.enabled:
            h = step_hash("grid", h_feat, g)
            self.step("grid", h, lambda: self._grid(h))

        r = cfg.recreation
        train_part = {k: v for k, v in asdict(r).items() if k not in GENERATION_FIELDS}
        h_rec = step_hash("recreation", h_feat, train_part)
        h_gen = step_hash("recreate", h_rec, asdict(r), clf_hashes)
        h_pca = step_hash("pca", h_gen, cfg.pca)
        if not r.models:
            self.note("recreation", "no recreation models configured")
        elif not self.has_maps():
            self.note("recreation", "the data is a feature table: no MFCC maps")
        else:
            self.step("recreation", h_rec, self._train_recreation)
            self.step("recreate", h_gen, self._recreate)
            self.step("pca", h_pca, self._pca)

        h_report = step_hash("report", cfg.report, {k: v.get("hash") for k, v in self.state.steps.items()
                                                    if k != "report"})
        self.step("report", h_report, self._report)
        return self.run

    # -- step bodies ----------------------------------------------------------------------------

    def _synth(self) -> dict:
        from genrelab.data import synthesise_corpus

        import shutil

        d = self.config.data
        if (self.run / "corpus").is_dir():  # this step's own output: a changed [data] starts afresh
            shutil.rmtree(self.run / "corpus")
        paths = synthesise_corpus(self.run / "corpus", clips_per_genre=d.clips_per_genre, duration=d.duration,
                                  sr=d.sr, seed=d.seed, progress=self.progress)
        return {"clips": len(paths)}

    def _prepare(self) -> dict:
        self._features = None
        fs = self.features()
        maps = getattr(fs, "maps", None)
        info: dict[str, Any] = {"rows": int(len(fs.table)), "maps": list(maps.maps.shape) if maps is not None else None}
        if getattr(fs, "skipped", None) is not None:
            info["skipped"] = int(len(fs.skipped))
        return info

    def _train(self, name: str, out: Path, *, plots: bool = True, **kw: Any) -> dict:
        import inspect

        from genrelab.classify import train_classifiers

        if not plots and "plots" in inspect.signature(train_classifiers).parameters:
            kw["plots"] = False  # cells of protocols and grid: numbers only
        result = train_classifiers(self.features(), [name], out, device=self.device, progress=self.progress, **kw)
        return result[name]

    def _classify(self, name: str, mc) -> dict:
        c = self.config.classifiers
        m = self._train(name, self.run, split=mc.split, repeats=c.repeats, epochs=mc.epochs,
                        batch_size=mc.batch_size, lr=mc.lr, seed=c.seed)
        return {"accuracy": m.get("accuracy"), "protocol": m.get("protocol")}

    def _cells(self, step: str, cells: list[tuple[str, str, Callable[[], dict]]]) -> list[dict]:
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

    def _protocols(self, digest: str) -> dict:
        p = self.config.protocols
        cells = []
        for split in p.splits:
            for model in p.models:
                key = f"{model}@{split}"
                cells.append((key, step_hash(key, digest), lambda model=model, split=split: self._protocol_cell(model, split)))
        rows = self._cells("protocols", cells)
        write_json(self.run / "metrics" / "protocols.json", {"seed": p.seed, "repeats": p.repeats, "rows": rows})
        return {"cells": len(rows)}

    def _protocol_cell(self, model: str, split: str) -> dict:
        p = self.config.protocols
        if split == "fault-filtered" and self.data_arg is None:
            return {"model": model, "protocol": split, "note": "not run: the synthesised corpus has no GTZAN artists"}
        if model != "dense" and not self.has_maps():
            return {"model": model, "protocol": split, "note": "not run: no MFCC maps (feature-table input)"}
        out = self.run / "protocols" / _slug(split)
        try:
            m = self._train(model, out, split=split, repeats=p.repeats, epochs=p.epochs, batch_size=p.batch_size,
                            lr=p.lr, seed=p.seed, plots=False)
        except DatasetError as exc:  # e.g. fault-filtered on a collection without GTZAN names
            return {"model": model, "protocol": split, "note": f"not run: {exc}"}
        return _row(model, m, note="")

    def _grid(self, digest: str) -> dict:
        g = self.config.grid
        cells = []
        for model in g.models:
            for split in g.splits:
                for epochs in g.epochs:
                    for batch in g.batch_sizes:
                        key = f"{model}@{split}/e{epochs}/b{batch}"
                        cells.append((key, step_hash(key, digest),
                                      lambda model=model, split=split, epochs=epochs, batch=batch:
                                      self._grid_cell(model, split, epochs, batch)))
        rows = self._cells("grid", cells)
        write_json(self.run / "metrics" / "grid.json", {"lr": g.lr, "seed": g.seed, "rows": rows})
        return {"cells": len(rows)}

    def _grid_cell(self, model: str, split: str, epochs: int, batch: int) -> dict:
        g = self.config.grid
        if model != "dense" and not self.has_maps():
            return {"model": model, "split": split, "epochs": epochs, "batch_size": batch, "lr": g.lr,
                    "note": "not run: no MFCC maps"}
        out = self.run / "grid" / _slug(f"{model}_{split}_e{epochs}_b{batch}")
        m = self._train(model, out, split=split, repeats=1, epochs=epochs, batch_size=batch, lr=g.lr, seed=g.seed,
                        plots=False)
        return _row(model, m, split=split, epochs=epochs, batch_size=batch, lr=g.lr)

    def _train_recreation(self) -> dict:
        from genrelab.recreation import train_recreation

        r = self.config.recreation
        result = train_recreation(self.features(), list(r.models), self.run, epochs=r.epochs, batch_size=r.batch_size,
                                  lr=r.lr, val_fraction=r.val_fraction, seed=r.seed, device=self.device,
                                  progress=self.progress)
        return {name: {"val_mse": m.get("val_mse")} for name, m in result.items()}

    def _recreate(self) -> dict:
        from genrelab.recreation import recreate

        import shutil

        r = self.config.recreation
        stale = self.run / "recreated"  # this step's own output: clips of an older config go
        if stale.is_dir():
            shutil.rmtree(stale)
        kw: dict[str, Any] = {}
        if r.temperature is not None:
            kw["temperature"] = r.temperature
        recreate(self.run, genres=tuple(r.genres), per_genre=r.per_genre, seconds=r.seconds,
                 models=tuple(m.removeprefix("recreate-") for m in r.models), guidance=r.guidance,
                 seed=r.generate_seed, device=self.device, progress=self.progress, **kw)
        return {}

    def _pca(self) -> dict:
        from genrelab.analysis import run_pca

        import inspect

        genres = self.config.pca.genres or self.config.recreation.genres
        kw = {"progress": self.progress} if "progress" in inspect.signature(run_pca).parameters else {}
        run_pca(self.run, genres=tuple(genres), **kw)
        return {}

    def _report(self) -> dict:
        from genrelab.report import render_report

        rc = self.config.report
        path = render_report(self.run, title=rc.title, audio_format=rc.audio_format,
                             players_per_genre=rc.players_per_genre, include_audio=rc.include_audio)
        return {"bytes": path.stat().st_size}


def run_study(config: StudyConfig, out: Path, *, data: Path | None = None, progress: bool = True,
              device: str = "cpu", console: Console | None = None) -> Path:
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
    return _State.load(Path(run)).data


__all__ = ["run_study", "study_state"]
