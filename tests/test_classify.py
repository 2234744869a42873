"""Classifiers end to end: protocols, metrics files, checkpoints, evaluate, predict on real clips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from genrelab.classify import Classifier, evaluate_classifiers, predict_files, train_classifiers, trained_classifiers
from genrelab.errors import AudioError, DatasetError, ParameterError
from genrelab.features import FEATURE_COLUMNS, FeatureSet, MapSet
from genrelab.io import read_json

GENRES10 = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
FAST_DENSE = {"dense": {"members": 2, "hidden": [64]}}
SMALL_MAPS = {
    "cnn": {"channels": [8, 16, 16], "hidden": 16},
    "convlstm": {"steps": 5, "hidden_channels": 4, "hidden": 16},
}
NO_VAL = {"cnn": {"val_fraction": 0.0}, "convlstm": {"val_fraction": 0.25, "patience": 50}}


def _fs(table: pd.DataFrame | None = None, maps: MapSet | None = None) -> FeatureSet:
    if table is None:
        table = pd.DataFrame(columns=["filename", "length", *FEATURE_COLUMNS, "label"])
    return FeatureSet(table=table, maps=maps, clips=None, skipped=pd.DataFrame(columns=["path", "reason"]))


def _synthetic_maps(n_tracks_per_label: int = 6, segments: int = 3, labels=("blues", "jazz", "metal", "pop"), seed=0) -> MapSet:
    """Label-dependent MFCC-like maps (20 x 130): each genre lifts a different coefficient band."""
    rng = np.random.default_rng(seed)
    maps, names, tracks, labs, segs = [], [], [], [], []
    for li, lab in enumerate(labels):
        for t in range(n_tracks_per_label):
            track_offset = rng.normal(0, 2, size=(20, 1))
            for s in range(segments):
                m = rng.normal(0, 4, size=(20, 130)) + track_offset
                m[0] -= 200
                m[4 * li : 4 * li + 4] += 15
                maps.append(m)
                tid = f"{lab}.{t:05d}"
                names.append(f"{tid}.{s}.wav")
                tracks.append(tid)
                labs.append(lab)
                segs.append(s)
    return MapSet(maps=np.array(maps, dtype=np.float32), filename=np.array(names), track=np.array(tracks),
                  label=np.array(labs), segment=np.array(segs))


@pytest.fixture(scope="module")
def csv_table(gtzan_dir) -> pd.DataFrame:
    return pd.read_csv(gtzan_dir / "features_30_sec.csv")


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory, csv_table):
    """dense trained on the CSV WITHOUT the ten *.00000 rows (the real .au clips), 2 random 70/30 repeats."""
    run = tmp_path_factory.mktemp("csv_run")
    table = csv_table[~csv_table["filename"].str.contains(r"\.00000\.")].reset_index(drop=True)
    assert len(table) == 990
    metrics = train_classifiers(_fs(table), ["dense"], run, split="random:0.3", repeats=2, epochs=25,
                                progress=False, model_config=FAST_DENSE)
    return run, metrics["dense"]


def _check_consistent(m: dict) -> None:
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (len(m["labels"]), len(m["labels"]))
    assert cm.sum(1).tolist() == [m["per_class"][lab]["support"] for lab in m["labels"]]
    assert m["pooled_accuracy"] == pytest.approx(np.trace(cm) / cm.sum(), abs=1e-12)
    assert m["accuracy"] == pytest.approx(np.mean(m["split_accuracy"]), abs=1e-12)
    for key in ("accuracy", "accuracy_std", "macro_f1", "per_class", "labels", "confusion_matrix", "protocol",
                "repeats", "n_train", "n_test", "history"):
        assert key in m


def test_dense_on_csv_writes_consistent_metrics_and_beats_chance(csv_run):
    run, m = csv_run
    _check_consistent(m)
    assert m["labels"] == GENRES10
    assert m["repeats"] == 2 and m["n_splits"] == 2 and len(m["split_accuracy"]) == 2
    assert m["n_train"] + m["n_test"] == 990
    assert np.array(m["confusion_matrix"]).sum() == 2 * m["n_test"]  # pooled over both repeats
    assert m["accuracy"] > 0.45  # held-out rows; chance is 0.10
    assert len(m["history"]) == 25
    assert read_json(run / "metrics" / "dense.json")["accuracy"] == m["accuracy"]
    for plot in ("curves", "confusion", "report", "misclassified"):
        assert (run / "plots" / f"dense_{plot}.png").stat().st_size > 1000
    assert trained_classifiers(run) == ["dense"]


def test_same_seed_twice_gives_same_metrics(tmp_path, csv_table):
    table = csv_table.iloc[::4].reset_index(drop=True)
    a = train_classifiers(_fs(table), ["dense"], tmp_path / "a", epochs=3, progress=False, plots=False,
                          model_config=FAST_DENSE)["dense"]
    b = train_classifiers(_fs(table), ["dense"], tmp_path / "b", epochs=3, progress=False, plots=False,
                          model_config=FAST_DENSE)["dense"]
    assert a["history"] == b["history"] and a["confusion_matrix"] == b["confusion_matrix"]


def test_kfold_tests_every_row_once_and_fault_filtered_uses_the_lists(tmp_path, csv_table):
    table = csv_table.iloc[::5].reset_index(drop=True)  # 200 rows
    m = train_classifiers(_fs(table), ["dense"], tmp_path / "k", split="kfold:3", epochs=2, progress=False,
                          plots=False, model_config=FAST_DENSE)["dense"]
    assert m["n_splits"] == 3 and np.array(m["confusion_matrix"]).sum() == 200
    _check_consistent(m)
    m = train_classifiers(_fs(csv_table), ["dense"], tmp_path / "ff", split="fault-filtered", epochs=2,
                          progress=False, plots=False, model_config=FAST_DENSE)["dense"]
    assert (m["n_train"], m["n_test"]) == (443 + 197, 290)
    _check_consistent(m)


def test_maps_models_split_by_track_and_report_track_accuracy(tmp_path, monkeypatch):
    import genrelab.data
    import genrelab.train

    maps = _synthetic_maps()
    seen_splits, seen_groups = [], []
    real_make, real_fit = genrelab.data.make_splits, genrelab.train.fit
    monkeypatch.setattr(genrelab.data, "make_splits", lambda *a, **k: seen_splits.extend(real_make(*a, **k)) or seen_splits[-1:])
    monkeypatch.setattr(genrelab.train, "fit", lambda *a, **k: seen_groups.append(set(k["groups"])) or real_fit(*a, **k))
    out = train_classifiers(_fs(maps=maps), ["cnn", "convlstm"], tmp_path, split="random:0.3", epochs=8, lr=1e-2,
                            progress=False, model_config=SMALL_MAPS, train_config=NO_VAL)
    for sp in seen_splits:
        assert not set(maps.track[sp.train]) & set(maps.track[sp.test])
    for sp, groups in zip(seen_splits, seen_groups):
        assert groups == set(maps.track[sp.train])
    for name, m in out.items():
        _check_consistent(m)
        assert m["segmented"] and "track_accuracy" in m
        assert m["n_train"] + m["n_test"] == len(maps.maps) and m["n_test"] % 3 == 0
        assert m["accuracy"] > 0.5, name  # 4 separable classes, held-out tracks
        clf = Classifier.load(tmp_path, name)
        assert clf.kind == "maps" and clf.labels == ["blues", "jazz", "metal", "pop"]
        long_map = np.concatenate([maps.maps[0], maps.maps[1], maps.maps[2][:, :40]], axis=1)  # (20, 300)
        p = clf.predict_proba_mfcc(long_map)
        assert p.shape == (4,) and p.sum() == pytest.approx(1.0, abs=1e-6)
        with pytest.raises(AudioError, match="too short"):
            clf.predict_proba_mfcc(maps.maps[0][:, :100])
        y = np.random.default_rng(0).normal(0, 0.1, 22050 * 4).astype(np.float32)
        pa = clf.predict_proba_audio(y)
        assert pa.shape == (4,) and pa.sum() == pytest.approx(1.0, abs=1e-6)
        assert clf.embed_audio(y).shape == (16,)
        with pytest.raises(AudioError, match="too short"):
            clf.predict_proba_audio(y[: int(22050 * 0.3)])  # under the 0.5 s floor
    assert (tmp_path / "plots" / "cnn_misclassified.png").exists()


def test_maps_model_on_a_feature_table_is_a_clear_error(tmp_path, csv_table):
    with pytest.raises(ParameterError, match="cnn needs audio \\(MFCC maps\\); a feature table has none"):
        train_classifiers(_fs(csv_table), ["cnn"], tmp_path, progress=False)
    with pytest.raises(ParameterError, match="unknown model"):
        train_classifiers(_fs(csv_table), ["resnet"], tmp_path, progress=False)
    with pytest.raises(ParameterError, match="split protocol"):
        train_classifiers(_fs(csv_table), ["dense"], tmp_path, split="random:2", progress=False)


def test_second_model_is_added_beside_the_first(tmp_path, csv_table):
    maps = _synthetic_maps(n_tracks_per_label=3, segments=2)
    table = csv_table.iloc[::10].reset_index(drop=True)
    train_classifiers(_fs(table, maps), ["dense"], tmp_path, epochs=1, progress=False, plots=False, model_config=FAST_DENSE)
    train_classifiers(_fs(table, maps), ["cnn"], tmp_path, epochs=1, progress=False, plots=False, model_config=SMALL_MAPS)
    assert trained_classifiers(tmp_path) == ["dense", "cnn"]
    assert {p.name for p in (tmp_path / "metrics").iterdir()} == {"dense.json", "cnn.json"}


def test_evaluate_on_another_set_every_row_is_test(tmp_path, csv_run, csv_table):
    run, _ = csv_run
    ten = csv_table[csv_table["filename"].str.contains(r"\.00000\.")]
    ten.to_csv(tmp_path / "ten.csv", index=False)
    m = evaluate_classifiers(run, tmp_path / "ten.csv", progress=False)["dense"]
    assert m["n_test"] == 10 and np.array(m["confusion_matrix"]).sum() == 10
    _check_consistent(m)
    assert read_json(run / "metrics" / "dense.ten.json")["n_test"] == 10
    with pytest.raises(DatasetError, match="no trained 'cnn'"):
        evaluate_classifiers(run, tmp_path / "ten.csv", models=["cnn"], progress=False)


def test_predict_real_clips_with_a_model_that_never_saw_them(csv_run, gtzan_dir):
    run, _ = csv_run
    files = sorted((gtzan_dir / "genres").glob("*/*.00000.au"))
    if len(files) != 10:
        pytest.skip(f"expected the ten real .au clips in {gtzan_dir / 'genres'}")
    res = predict_files(run, files)
    assert [r["file"] for r in res] == [str(f) for f in files]
    for r in res:
        assert "error" not in r, r
        assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        assert set(r["probabilities"]) == set(GENRES10)
        top = [g for g, _ in r["top"]]
        assert len(top) == 3 and len(set(top)) == 3 and top[0] == r["genre"]
        ps = [p for _, p in r["top"]]
        assert ps == sorted(ps, reverse=True)
    clf = Classifier.load(run, "dense")
    from genrelab.audio import load

    y = load(files[0])
    assert clf.embed_audio(y).shape == (2 * 64,)  # members x last hidden width
    np.testing.assert_allclose(clf.predict_proba_audio(y), [res[0]["probabilities"][g] for g in clf.labels], atol=1e-6)
    correct = sum(r["genre"] == f.parent.name for r, f in zip(res, files))
    assert correct >= 3  # chance is 1 in 10; a weak, fast-trained model still does better


def test_predict_bad_file_reports_and_others_go_on(tmp_path, csv_run):
    run, _ = csv_run
    good = tmp_path / "tone.wav"
    sf.write(good, (0.3 * np.sin(np.arange(22050 * 4) * 0.05)).astype(np.float32), 22050)
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(22050 // 4, dtype=np.float32), 22050)  # under the 0.5 s floor
    fake = tmp_path / "text.wav"
    fake.write_text("not audio")
    res = predict_files(run, [fake, good, short, tmp_path / "missing.wav"])
    assert "error" in res[0] and "text.wav" in res[0]["error"]
    assert "genre" in res[1]
    assert "too short" in res[2]["error"]
    assert "no such file" in res[3]["error"]
    with pytest.raises(DatasetError, match="does not exist"):
        predict_files(tmp_path / "nope", [good])


def test_predict_and_embed_audio_equals_the_separate_calls(gtzan_dir, tmp_path):
    """The combined call (one feature extraction) gives what the two separate calls give."""
    from genrelab.audio import load
    from genrelab.classify import Classifier, train_classifiers
    from genrelab.features import prepare

    df = pd.read_csv(gtzan_dir / "features_30_sec.csv").groupby("label", group_keys=False).head(12)
    csv = tmp_path / "t.csv"
    df.to_csv(csv, index=False)
    train_classifiers(prepare(csv, tmp_path / "run"), ["dense"], tmp_path / "run", epochs=2,
                      progress=False, model_config=FAST_DENSE, plots=False)
    clf = Classifier.load(tmp_path / "run", "dense")
    y = load(gtzan_dir / "genres" / "jazz" / "jazz.00000.au", duration=5.0)
    proba, emb = clf.predict_and_embed_audio(y)
    np.testing.assert_allclose(proba, clf.predict_proba_audio(y), atol=1e-7)
    np.testing.assert_allclose(emb, clf.embed_audio(y), atol=1e-7)
