"""The study: orchestration and resume (with recording stand-ins for the stages, fast), a tiny
real end-to-end study (slow), and the CLI's errors."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import sys
import types
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from genrelab import study as C
from genrelab.cli import app
from genrelab.constants import SR
from genrelab.study import run_study, study_state

GENRES4 = ("blues", "classical", "metal", "pop")


# ---------------------------------------------------------------------------------------------
# recording stand-ins for the stages: they write the documented files and count their calls


class Stages:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.fail_on: str | None = None
        self.fail_after = 0

    def _hit(self, key: str) -> None:
        self.calls[key] += 1
        if self.fail_on == key and self.calls[key] > self.fail_after:
            raise KeyboardInterrupt(f"killed in {key}")

    # each stand-in has the real function's parameters (test_stand_ins_have_the_real_signatures)

    def synthesise_corpus(self, out, *, clips_per_genre=100, duration=30.0, sr=SR, seed=0, genres=None,
                          progress=True):
        self._hit("synth")
        paths = []
        for g in genres or GENRES4:
            (Path(out) / g).mkdir(parents=True, exist_ok=True)
            for k in range(clips_per_genre):
                p = Path(out) / g / f"{g}.{k:05d}.wav"
                p.write_bytes(b"RIFF")
                paths.append(p)
        return paths

    def prepare(self, data, run_dir, *, segment_maps=3.0, workers=1, progress=True, pad="reflect"):
        self.calls["prepare"] += 1  # called for the cache too; counted apart from the step
        table = pd.DataFrame({"filename": [f"{g}.0000{k}.wav" for g in GENRES4 for k in range(3)],
                              "tempo": 120.0, "label": [g for g in GENRES4 for _ in range(3)]})
        (Path(run_dir) / "features").mkdir(parents=True, exist_ok=True)
        table.to_csv(Path(run_dir) / "features" / "features.csv", index=False)
        maps = types.SimpleNamespace(maps=np.zeros((24, 20, 130), np.float32))
        return types.SimpleNamespace(table=table, maps=maps, skipped=pd.DataFrame(columns=["path", "reason"]))

    def train_classifiers(self, features, models, out, *, split="random:0.3", repeats=1, epochs=None,
                          batch_size=None, lr=None, seed=32, device="cpu", progress=True, model_config=None,
                          train_config=None, plots=True):
        (name,) = models
        self._hit(f"train:{name}:{Path(out).relative_to(self.run).as_posix()}")
        m = {"accuracy": 0.5, "accuracy_std": 0.0, "macro_f1": 0.5, "protocol": split, "repeats": repeats,
             "n_train": 8, "n_test": 4, "epochs": epochs, "batch_size": batch_size}
        (Path(out) / "metrics").mkdir(parents=True, exist_ok=True)
        (Path(out) / "metrics" / f"{name}.json").write_text(json.dumps(m))
        return {name: m}

    def train_recreation(self, features, models, out, *, epochs=20, batch_size=32, lr=1e-4, val_fraction=0.2,
                         seed=32, device="cpu", progress=True, config=None, exclude_tracks=None):
        self._hit("train_recreation")
        for name in models:
            (Path(out) / "metrics" / f"{name}.json").write_text(json.dumps({"val_mse": 0.5, "history": []}))
        return {name: {"val_mse": 0.5} for name in models}

    def recreate(self, run_dir, *, genres=GENRES4, per_genre=4, seconds=6.0, models=("lstm", "dense"),
                 guidance=0.0, temperature=0.5, prompt_frames=16, seed=0, device="cpu", progress=True,
                 guide_model="cnn", judge="convlstm"):
        self._hit("recreate")
        (Path(run_dir) / "metrics" / "fidelity.json").write_text(json.dumps({"genres": list(genres)}))
        return {}

    def run_pca(self, run_dir, *, genres=GENRES4, progress=True):
        self._hit("pca")
        (Path(run_dir) / "metrics" / "pca.json").write_text(json.dumps({"genres": list(genres)}))
        return {}


# the real function each stand-in replaces, as "module:name"
REAL = {
    "synthesise_corpus": "genrelab.data:synthesise_corpus",
    "prepare": "genrelab.features:prepare",
    "train_classifiers": "genrelab.classify:train_classifiers",
    "train_recreation": "genrelab.recreation:train_recreation",
    "recreate": "genrelab.recreation:recreate",
    "run_pca": "genrelab.analysis:run_pca",
}


def _shape(func) -> list[tuple[str, object, bool]]:
    """Each parameter's name, kind and whether it has a default."""
    return [(p.name, p.kind, p.default is not inspect.Parameter.empty)
            for p in inspect.signature(func).parameters.values()]


@pytest.mark.parametrize("name", sorted(REAL))
def test_stand_ins_have_the_real_signatures(name: str) -> None:
    module, attr = REAL[name].split(":")
    real = getattr(importlib.import_module(module), attr)
    fake = getattr(Stages(), name)
    assert inspect.signature(fake).parameters.keys() == inspect.signature(real).parameters.keys()
    assert _shape(fake) == _shape(real)


@pytest.fixture
def stages(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Stages:
    s = Stages()
    s.run = tmp_path / "run"
    import genrelab.data
    import genrelab.features
    import genrelab.recreation

    monkeypatch.setattr(genrelab.data, "synthesise_corpus", s.synthesise_corpus, raising=False)
    monkeypatch.setattr(genrelab.features, "prepare", s.prepare, raising=False)
    monkeypatch.setattr(genrelab.recreation, "train_recreation", s.train_recreation, raising=False)
    monkeypatch.setattr(genrelab.recreation, "recreate", s.recreate, raising=False)
    monkeypatch.setitem(sys.modules, "genrelab.classify", types.SimpleNamespace(train_classifiers=s.train_classifiers))
    monkeypatch.setitem(sys.modules, "genrelab.analysis", types.SimpleNamespace(run_pca=s.run_pca))
    return s


def small_config(**sections) -> C.StudyConfig:
    base = dataclasses.replace(C.demo(), data=C.DataConfig(clips_per_genre=2, duration=6.0))
    return dataclasses.replace(base, **sections)


def steps_run(stages: Stages) -> set[str]:
    return {k for k in stages.calls if k != "prepare"}


def test_study_runs_every_step_then_skips_all(stages: Stages) -> None:
    cfg = small_config(grid=dataclasses.replace(C.GridConfig(), enabled=True, epochs=(1, 2), batch_sizes=(4,),
                                                splits=("random:0.3",)))
    run = run_study(cfg, stages.run, progress=False)
    assert (run / "report.html").is_file() and (run / "config.toml").is_file()
    assert C.load_config(run / "config.toml") == cfg
    state = study_state(run)
    expected = ["synth", "features", "classify:dense", "classify:cnn", "classify:convlstm", "protocols", "grid",
                "recreation", "recreate", "pca", "report"]
    assert list(state["steps"]) == expected
    assert all(state["steps"][s]["seconds"] >= 0 for s in expected)
    assert stages.calls["train:dense:."] == 1 and stages.calls["train_recreation"] == 1
    assert stages.calls["train:dense:protocols/random-0.3"] == 1
    grid = json.loads((run / "metrics" / "grid.json").read_text())
    assert [(r["epochs"], r["batch_size"]) for r in grid["rows"]] == [(1, 4), (2, 4)]
    assert json.loads((run / "metrics" / "pca.json").read_text())["genres"] == list(cfg.recreation.genres)

    stages.calls.clear()
    run_study(cfg, stages.run, progress=False)
    assert steps_run(stages) == set()
    assert study_state(run)["steps"]["report"] == state["steps"]["report"]


def test_changed_recreation_reruns_only_recreation_and_later(stages: Stages) -> None:
    cfg = small_config()
    run_study(cfg, stages.run, progress=False)
    before = study_state(stages.run)["steps"]

    stages.calls.clear()
    gen_only = dataclasses.replace(cfg, recreation=dataclasses.replace(cfg.recreation, per_genre=2))
    run_study(gen_only, stages.run, progress=False)
    assert steps_run(stages) == {"recreate", "pca"}
    after = study_state(stages.run)["steps"]
    for step in ("features", "classify:dense", "classify:cnn", "recreation"):
        assert after[step] == before[step]
    assert after["report"]["hash"] != before["report"]["hash"]

    stages.calls.clear()
    retrain = dataclasses.replace(gen_only, recreation=dataclasses.replace(gen_only.recreation, epochs=3))
    run_study(retrain, stages.run, progress=False)
    assert steps_run(stages) == {"train_recreation", "recreate", "pca"}

    stages.calls.clear()
    cnn = dataclasses.replace(retrain.classifiers.cnn, epochs=2)
    run_study(dataclasses.replace(retrain, classifiers=dataclasses.replace(retrain.classifiers, cnn=cnn)),
              stages.run, progress=False)
    # the CNN retrains; recreation models do not depend on it, but reclassification does
    assert steps_run(stages) == {"train:cnn:.", "recreate", "pca"}


def test_killed_study_resumes_without_redoing_finished_steps(stages: Stages) -> None:
    cfg = small_config()
    stages.fail_on = "recreate"
    with pytest.raises(KeyboardInterrupt):
        run_study(cfg, stages.run, progress=False)
    assert "recreate" not in study_state(stages.run)["steps"]
    stages.calls.clear()
    stages.fail_on = None
    run_study(cfg, stages.run, progress=False)
    assert steps_run(stages) == {"recreate", "pca"}


def test_long_steps_keep_finished_cells(stages: Stages) -> None:
    grid = dataclasses.replace(C.GridConfig(), enabled=True, epochs=(1, 2, 3), batch_sizes=(4,), splits=("random:0.3",))
    cfg = small_config(grid=grid)
    stages.fail_on, stages.fail_after = "train:dense:grid/dense_random-0.3_e3_b4", 0
    with pytest.raises(KeyboardInterrupt):
        run_study(cfg, stages.run, progress=False)
    stages.calls.clear()
    stages.fail_on = None
    run_study(cfg, stages.run, progress=False)
    grid_calls = {k for k in stages.calls if k.startswith("train:dense:grid/")}
    assert grid_calls == {"train:dense:grid/dense_random-0.3_e3_b4"}
    assert len(json.loads((stages.run / "metrics" / "grid.json").read_text())["rows"]) == 3


def test_fault_filtered_is_noted_on_the_synthesised_corpus(stages: Stages) -> None:
    cfg = small_config(protocols=C.ProtocolsConfig(splits=("fault-filtered",), models=("dense",), repeats=2))
    run_study(cfg, stages.run, progress=False)
    rows = json.loads((stages.run / "metrics" / "protocols.json").read_text())["rows"]
    assert len(rows) == 1 and "synthesised corpus" in rows[0]["note"]
    assert not any("protocols/fault-filtered" in k for k in stages.calls)


def test_changed_corpus_is_made_afresh(stages: Stages) -> None:
    run_study(small_config(), stages.run, progress=False)
    stages.calls.clear()
    run_study(small_config(data=C.DataConfig(clips_per_genre=1, duration=6.0)), stages.run, progress=False)
    assert {"synth", "train:dense:.", "train_recreation", "recreate", "pca"} <= steps_run(stages)
    assert len(list((stages.run / "corpus").rglob("*.wav"))) == len(GENRES4)


def test_deleted_output_reruns_its_step(stages: Stages) -> None:
    cfg = small_config()
    run_study(cfg, stages.run, progress=False)
    (stages.run / "metrics" / "pca.json").unlink()
    stages.calls.clear()
    run_study(cfg, stages.run, progress=False)
    assert steps_run(stages) == {"pca"}


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_errors_are_one_sentence(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["study", "--out", str(tmp_path / "r"), "--preset", "huge"])
    assert r.exit_code != 0 and "unknown preset 'huge'; choose from demo, paper" in r.output
    assert "Traceback" not in r.output
    r = runner.invoke(app, ["study", str(tmp_path / "missing"), "--out", str(tmp_path / "r")])
    assert r.exit_code != 0 and "does not exist" in r.output and "Traceback" not in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[recreation]\nepoch = 3\n")
    r = runner.invoke(app, ["study", "--out", str(tmp_path / "r"), "--config", str(bad)])
    assert r.exit_code != 0 and "unknown key 'epoch' in [recreation]" in r.output
    assert len([line for line in r.output.splitlines() if line.strip()]) == 1


def test_cli_study_uses_preset_and_config(stages: Stages, tmp_path: Path) -> None:
    cfgfile = tmp_path / "s.toml"
    cfgfile.write_text("[data]\nclips_per_genre = 2\n[recreation]\nper_genre = 1\n")
    r = CliRunner().invoke(app, ["study", "--out", str(stages.run), "--config", str(cfgfile), "--quiet",
                                 "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "report.html" in r.output
    cfg = C.load_config(stages.run / "config.toml")
    assert cfg.preset == "demo" and cfg.recreation.per_genre == 1 and cfg.data.clips_per_genre == 2


def test_cli_demo_and_interrupt(stages: Stages) -> None:
    r = CliRunner().invoke(app, ["demo", "--out", str(stages.run), "--quiet", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert C.load_config(stages.run / "config.toml") == C.demo()
    stages.fail_on = "pca"
    stages.calls.clear()
    cfg = stages.run.parent / "c.toml"
    cfg.write_text("[pca]\ngenres = ['pop', 'metal']\n")
    r = CliRunner().invoke(app, ["study", "--out", str(stages.run), "--config", str(cfg), "--quiet"])
    assert r.exit_code == 130 and "rerun the same command to resume" in r.output
    assert steps_run(stages) == {"pca"}


# ---------------------------------------------------------------------------------------------
# a tiny real study, end to end (slow: trains small models)


def tiny_config() -> C.StudyConfig:
    d = C.demo()
    return dataclasses.replace(
        d,
        classifiers=C.ClassifiersConfig(
            dense=C.ModelConfig(split="random:0.34", epochs=2, batch_size=8, lr=1e-3),
            cnn=C.ModelConfig(split="random:0.34", epochs=1, batch_size=8, lr=1e-3),
            convlstm=C.ModelConfig(split="random:0.34", epochs=1, batch_size=8, lr=1e-3),
        ),
        protocols=C.ProtocolsConfig(splits=(), models=("dense",)),
        recreation=dataclasses.replace(d.recreation, epochs=1, batch_size=8, per_genre=1, seconds=3.0),
        report=dataclasses.replace(d.report, players_per_genre=1),
    )


def _numbers(run: Path) -> dict:
    keys = {"fidelity": ("fidelity", "frechet"), "pca": ("sources",)}
    out = {}
    for name in ("dense", "cnn", "convlstm", "recreate-lstm", "recreate-dense", "fidelity", "pca"):
        m = json.loads((run / "metrics" / f"{name}.json").read_text())
        wanted = keys.get(name, ("accuracy", "macro_f1", "confusion_matrix", "val_mse"))
        out[name] = {k: v for k, v in m.items() if k in wanted}
        assert out[name], name
    return out


def _flat(obj, prefix: str = "") -> dict:
    if isinstance(obj, dict):
        return {k2: v2 for k, v in obj.items() for k2, v2 in _flat(v, f"{prefix}/{k}").items()}
    return {prefix: obj}


@pytest.mark.slow
def test_tiny_study_end_to_end(tiny_corpus: Path, tmp_path: Path) -> None:
    cfg = tiny_config()
    run = run_study(cfg, tmp_path / "a", data=tiny_corpus, progress=False)
    for rel in ("config.toml", "state.json", "report.html", "features/features.csv", "models/dense.pt",
                "models/cnn.pt", "models/convlstm.pt", "models/recreate-lstm.pt", "metrics/fidelity.json",
                "metrics/pca.json"):
        assert (run / rel).is_file(), rel
    assert list((run / "recreated").rglob("*.wav"))
    text = (run / "report.html").read_text(encoding="utf-8")
    assert "<audio controls" in text and "data:image/png;base64," in text
    first = study_state(run)["steps"]

    run_study(cfg, run, data=tiny_corpus, progress=False)  # everything unchanged: nothing reruns
    assert study_state(run)["steps"] == first

    # the same study again into another folder gives the same numbers: accuracies, confusion
    # matrices, MSEs, shares and PCA exactly; Fréchet distances (a matrix square root of
    # near-singular covariances) to 1e-3 relative
    again = run_study(cfg, tmp_path / "b", data=tiny_corpus, progress=False)
    a, b = _numbers(again), _numbers(run)
    fa, fb = a["fidelity"].pop("frechet"), b["fidelity"].pop("frechet")
    assert a == b
    assert _flat(fa).keys() == _flat(fb).keys()
    for k, v in _flat(fa).items():
        w = _flat(fb)[k]
        if isinstance(v, float) and isinstance(w, float):
            assert v == pytest.approx(w, rel=1e-3, abs=1e-9), k
        else:
            assert v == w, k  # None (too few clips for a covariance) or text
