"""The study config: TOML round trip, unknown keys, presets, overrides and step hashes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from genrelab import study as C
from genrelab.errors import ParameterError


@pytest.mark.parametrize("name", sorted(C.PRESETS))
def test_presets_are_valid_and_round_trip(name: str, tmp_path: Path) -> None:
    cfg = C.get_preset(name)
    C.validate(cfg)
    assert cfg.preset == name
    assert C.from_toml(cfg.to_toml()) == cfg
    # through a file, as the study writes RUN/config.toml: the file names its preset
    path = C.save_config(cfg, tmp_path / "config.toml")
    assert C.load_config(path) == cfg


def test_round_trip_with_optional_values(tmp_path: Path) -> None:
    cfg = dataclasses.replace(C.demo(), recreation=dataclasses.replace(C.demo().recreation, temperature=0.7))
    path = C.save_config(cfg, tmp_path / "config.toml")
    assert C.load_config(path) == cfg
    # None fields are left out of the TOML and come back as None
    plain = C.demo()
    assert "temperature" not in plain.to_toml()
    assert C.from_toml(plain.to_toml()).recreation.temperature is None


def test_paper_preset_is_the_source_study_grid() -> None:
    p = C.paper()
    assert p.grid.enabled and p.grid.models == ("dense",)
    assert set(p.grid.splits) == {"random:0.5", "random:0.3"}
    assert p.grid.epochs == (20, 50, 100) and p.grid.batch_sizes == (16, 32, 64)
    assert p.grid.lr == pytest.approx(1e-4) and p.grid.seed == 32
    assert (p.classifiers.cnn.epochs, p.classifiers.cnn.batch_size, p.classifiers.cnn.split) == (100, 32, "random:0.4")
    r = p.recreation
    assert (r.epochs, r.batch_size, r.val_fraction) == (20, 32, pytest.approx(0.2))
    assert r.genres == ("classical", "pop", "metal", "blues")
    assert "fault-filtered" in p.protocols.splits and p.protocols.repeats >= 3


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[classifiers]\nepoch = 3\n", r"unknown key 'epoch' in \[classifiers\]; allowed: .*repeats"),
        ("[classifiers.cnn]\nepoch = 3\n", r"unknown key 'epoch' in \[classifiers.cnn\]"),
        ("[nope]\nx = 1\n", r"unknown key 'nope' in the top level"),
        ("[recreation]\ngenres = ['polka']\n", r"unknown name 'polka'"),
        ("[classifiers.dense]\nepochs = 'ten'\n", r"classifiers.dense.epochs = 'ten' must be an integer"),
        ("[classifiers.dense]\nepochs = -1\n", r"must be positive"),
        ("[classifiers.dense]\nsplit = 'random:2'\n", r"test fraction"),
        ("[report]\naudio_format = 'mp3'\n", r"audio_format"),
        ("[data\n", r"not valid TOML"),
        ("data = 3\n", r"data must be a table"),
    ],
)
def test_bad_config_errors_name_the_key(text: str, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        C.from_toml(text, base=C.demo())


def test_file_overrides_preset(tmp_path: Path) -> None:
    path = tmp_path / "study.toml"
    path.write_text("[classifiers.cnn]\nepochs = 3\n[recreation]\nper_genre = 2\n")
    cfg = C.load_config(path, preset="paper")
    assert cfg.preset == "paper"
    assert cfg.classifiers.cnn.epochs == 3 and cfg.classifiers.cnn.batch_size == 32  # rest from the preset
    assert cfg.recreation.per_genre == 2 and cfg.grid.enabled
    # a preset named in the file is used when the command names none
    path.write_text('preset = "paper"\n')
    assert C.load_config(path) == C.paper()
    assert C.load_config(None) == C.demo()
    with pytest.raises(ParameterError, match="unknown preset 'big'; choose from demo, paper"):
        C.load_config(None, preset="big")
    with pytest.raises(ParameterError, match="does not exist"):
        C.load_config(tmp_path / "missing.toml")


def test_step_hash_tracks_only_what_it_reads() -> None:
    a = C.demo()
    b = dataclasses.replace(a, recreation=dataclasses.replace(a.recreation, per_genre=9))
    assert C.step_hash("x", a.classifiers) == C.step_hash("x", b.classifiers)
    assert C.step_hash("x", a.recreation) != C.step_hash("x", b.recreation)
    # workers do not change results, so they do not change the hash
    w = dataclasses.replace(a, features=dataclasses.replace(a.features, workers=2))
    assert C.step_hash("f", w.features) == C.step_hash("f", a.features)
    assert C.step_hash("f", a.features) != C.step_hash("g", a.features)


def test_model_names_come_from_the_registry() -> None:
    from genrelab.models import MODELS

    assert C.CLASSIFIERS == ("dense", "cnn", "convlstm")
    assert C.CLASSIFIERS == tuple(n for n, s in MODELS.items() if s.kind in ("features", "maps"))
    assert C.RECREATION_MODELS == ("recreate-lstm", "recreate-dense", "recreate-diffusion")
    assert C.RECREATION_MODELS == tuple(n for n, s in MODELS.items() if s.kind == "recreation")
    # one [classifiers.<name>] table per registered classifier
    fields = {f.name for f in dataclasses.fields(C.ClassifiersConfig)}
    assert set(C.CLASSIFIERS) <= fields
    assert C.ClassifiersConfig().models == C.CLASSIFIERS and C.RecreationConfig().models == C.RECREATION_MODELS


def test_a_field_added_later_leaves_old_step_hashes_alone_at_its_default() -> None:
    """``features.pad`` came after run folders existed: at its default it is not in the hash."""
    from genrelab.study.config import FeaturesConfig
    from genrelab.study.hashing import digest

    assert digest(FeaturesConfig()) == digest({"segment_maps": 3.0})  # the hash before the field existed
    assert digest(FeaturesConfig(pad="zeros")) != digest(FeaturesConfig())
    assert digest(FeaturesConfig(workers=2)) == digest(FeaturesConfig())  # nohash: never in it
