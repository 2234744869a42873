"""Recreation models, generation, guidance, fidelity (genrelab.models.recreate, genrelab.recreation)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from genrelab.errors import DatasetError, ParameterError
from genrelab.io import read_json
from genrelab.models.recreate import RecreateConfig, RecreationModel
from genrelab.recreation import (
    Recreator,
    frechet_distance,
    generate,
    guide,
    limit_peak,
    recreate,
    shares,
    target_log_prob,
    train_recreation,
)
from genrelab.train import load_checkpoint

GENRES = ("blues", "classical", "metal", "pop")
torch.set_num_threads(1)


def _maps(n_tracks: int = 3, n_seg: int = 2, frames: int = 40, seed: int = 0) -> types.SimpleNamespace:
    """A MapSet stand-in: genre-dependent oscillating raw MFCC maps (N, 20, frames)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)
    maps, label, tracks, seg = [], [], [], []
    for gi, g in enumerate(GENRES):
        for k in range(n_tracks):
            for s in range(n_seg):
                level = np.linspace(-200 + 30 * gi, 0, 20)[:, None]
                wave = 15 * np.sin(2 * np.pi * t / (6 + 3 * gi) + rng.uniform(0, 6))[None] * np.linspace(1, 0.2, 20)[:, None]
                maps.append(level + wave + 2 * rng.standard_normal((20, frames)))
                label.append(g)
                tracks.append(f"{g}.{k:05d}")
                seg.append(s)
    return types.SimpleNamespace(
        maps=np.asarray(maps, np.float32), label=np.array(label), track=np.array(tracks),
        segment=np.array(seg), filename=np.array([f"{t}.{s}.wav" for t, s in zip(tracks, seg)]),
    )


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A run folder with both recreation models trained briefly on the stand-in maps."""
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("run")
    fs = types.SimpleNamespace(maps=_maps(n_tracks=5, n_seg=1, frames=60))
    train_recreation(fs, ["recreate-lstm", "recreate-dense"], run, epochs=3, lr=3e-3, batch_size=8,
                     progress=False, config={"hidden": 32})
    # the real clips behind the maps (features/clips.csv), for the oracle and real rows
    import pandas as pd
    import soundfile as sf

    rng = np.random.default_rng(1)
    t = np.arange(int(3.2 * 22050)) / 22050
    rows = []
    for gi, g in enumerate(GENRES):
        for k in range(5):
            path = run / "audio" / g / f"{g}.{k:05d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            y = np.sin(2 * np.pi * 220 * 2 ** gi * t) + 0.1 * rng.standard_normal(t.size)
            sf.write(path, (0.5 * y / np.abs(y).max()).astype(np.float32), 22050)
            rows.append({"filename": path.name, "track": f"{g}.{k:05d}", "label": g, "path": str(path)})
    (run / "features").mkdir()
    pd.DataFrame(rows).to_csv(run / "features" / "clips.csv", index=False)
    # the judge (convlstm) was tested on tracks 3 and 4 of each genre and trained on the rest
    judge_test = [f"{g}.{k:05d}" for g in GENRES for k in (3, 4)]
    (run / "metrics" / "convlstm.json").write_text(json.dumps({"test_tracks": judge_test}))
    return run


@pytest.mark.parametrize("lstm", [True, False])
def test_model_shapes(lstm: bool) -> None:
    cfg = RecreateConfig(n_genres=4, context=5, hidden=16, lstm=lstm)
    model = RecreationModel(cfg)
    x = torch.randn(3, 30, 20)
    out = model(x, torch.tensor([0, 1, 3]))
    assert out.shape == (3, 30 - 5, 20)
    nxt, state = model.step(x[:, :5], torch.tensor([0, 1, 3]), None)
    assert nxt.shape == (3, 20)
    assert (state is not None) == lstm
    # teacher-forced prediction for frame k equals one step on the first window
    torch.testing.assert_close(model.eval()(x, torch.tensor([0, 1, 3]))[:, 0], model.step(x[:, :5], torch.tensor([0, 1, 3]), None)[0])


def test_model_rejects_short_input() -> None:
    model = RecreationModel(RecreateConfig(n_genres=2, context=8, hidden=8))
    with pytest.raises(ParameterError, match="context"):
        model(torch.randn(1, 8, 20), torch.tensor([0]))
    with pytest.raises(ParameterError, match="hidden"):
        RecreateConfig(hidden=0)


@pytest.mark.parametrize("lstm", [True, False])
def test_tiny_model_overfits_small_batch(lstm: bool) -> None:
    torch.manual_seed(0)
    model = RecreationModel(RecreateConfig(n_genres=4, context=4, hidden=64, dropout=0.0, lstm=lstm))
    ms = _maps(n_tracks=1, n_seg=1, frames=24)
    z = torch.from_numpy((ms.maps - ms.maps.mean((0, 2), keepdims=True)) / ms.maps.std((0, 2), keepdims=True)).transpose(1, 2)
    g = torch.arange(4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(150):
        loss = nn.functional.mse_loss(model(z, g), z[:, 4:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])


def test_train_recreation_writes_checkpoint_and_metrics(trained_run: Path) -> None:
    for name in ("recreate-lstm", "recreate-dense"):
        m = read_json(trained_run / "metrics" / f"{name}.json")
        assert [h["epoch"] for h in m["history"]] == [1, 2, 3]
        assert np.isfinite(m["val_mse"]) and m["val_mse"] > 0
        # 80/20 by track, stratified: one of five tracks per genre held out
        _, ck = load_checkpoint(trained_run / "models" / f"{name}.pt")
        assert ck["kind"] == "recreation" and ck["labels"] == list(GENRES)
        assert m["n_train"] + m["n_val"] == 4 * 5 and m["n_val"] == 4
        assert ck["residual_std"].shape == (20,) and np.all(ck["residual_std"] > 0)
        assert (trained_run / "plots" / f"{name}_mse.png").stat().st_size > 0
        assert (trained_run / "plots" / f"{name}_true_vs_synthetic.png").stat().st_size > 0


def test_train_recreation_leaves_out_the_classifiers_test_tracks(tmp_path: Path) -> None:
    fs = types.SimpleNamespace(maps=_maps(n_tracks=5, n_seg=1, frames=40))
    test_side = [f"{g}.00004" for g in GENRES]
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "cnn.json").write_text(json.dumps({"test_tracks": test_side}))
    m = train_recreation(fs, ["recreate-dense"], tmp_path, epochs=1, batch_size=8, progress=False,
                         config={"hidden": 16})["recreate-dense"]
    assert m["n_excluded_tracks"] == 4 and m["n_train"] + m["n_val"] == 16  # 20 tracks less the 4 tested
    _, ck = load_checkpoint(tmp_path / "models" / "recreate-dense.pt")
    assert not set(ck["val_tracks"]) & set(test_side)


def test_train_recreation_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="maps"):
        train_recreation(types.SimpleNamespace(maps=None), ["recreate-lstm"], tmp_path, progress=False)
    with pytest.raises(ParameterError, match="recreate-gru"):
        train_recreation(types.SimpleNamespace(maps=_maps()), ["recreate-gru"], tmp_path, progress=False)


def test_generation_deterministic_and_varied(trained_run: Path) -> None:
    rec = Recreator.load(trained_run, "recreate-lstm")
    a = generate(rec, ["pop", "metal"], frames=30, seed=1, temperature=1.0)
    b = generate(rec, ["pop", "metal"], frames=30, seed=1, temperature=1.0)
    c = generate(rec, ["pop", "metal"], frames=30, seed=2, temperature=1.0)
    d = generate(rec, ["pop", "metal"], frames=30, seed=1, temperature=0.0)
    assert a.shape == (2, 20, 30) and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 0.1
    assert np.abs(a - d).mean() > 0.1
    prompt = _maps(n_tracks=1, n_seg=1, frames=12).maps[:2]
    p = generate(rec, ["blues", "classical"], frames=7, prompts=prompt, seed=0)
    assert p.shape == (2, 20, 7)
    with pytest.raises(ParameterError, match="jazz"):
        generate(rec, ["jazz"], frames=5)


class _TinyCNN(nn.Module):
    """Raw-MFCC interface like the real map classifiers: (B, 20, T) -> logits, normalises inside."""

    def __init__(self, n_classes: int = 4) -> None:
        super().__init__()
        self.register_buffer("mean", torch.linspace(-200, 0, 20)[:, None])
        self.net = nn.Sequential(nn.Conv1d(20, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                                 nn.Linear(8, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / 50.0)


def test_guidance_raises_target_log_probability() -> None:
    torch.manual_seed(0)
    cnn = _TinyCNN()
    x0 = _maps(n_tracks=1, n_seg=1, frames=50).maps  # (4, 20, 50)
    targets = [3, 2, 1, 0]
    std = x0.std(axis=(0, 2))
    before = target_log_prob(x0, targets, cnn, frames=20)
    weak = target_log_prob(guide(x0, targets, cnn, weight=0.5, frames=20, std=std, steps=30), targets, cnn, frames=20)
    strong = target_log_prob(guide(x0, targets, cnn, weight=5.0, frames=20, std=std, steps=30), targets, cnn, frames=20)
    assert np.all(weak > before + 0.005), (before, weak)
    assert np.all(strong > weak + 0.02), (weak, strong)
    unchanged = guide(x0, targets, cnn, weight=0.0, frames=20, std=std)
    np.testing.assert_array_equal(unchanged, x0)
    assert all(p.requires_grad for p in cnn.parameters())  # the classifier is left as it was


def test_frechet_distance() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 16))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    near = frechet_distance(a, a + 0.1)
    far = frechet_distance(a, a + 3.0)
    assert 0 < near < far
    assert far == pytest.approx(16 * 9.0, rel=1e-6)  # a pure mean shift: ||3 * 1||^2
    with pytest.raises(ParameterError):
        frechet_distance(a[:1], a)
    # against the textbook formula with scipy.linalg.sqrtm on the same shrinkage covariances
    from scipy import linalg
    from sklearn.covariance import ledoit_wolf

    b = rng.standard_normal((9, 16)) * 2 + 1
    sa, sb = ledoit_wolf(a)[0], ledoit_wolf(b)[0]
    ref = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(sa + sb) - 2 * np.trace(np.real(linalg.sqrtm(sa @ sb)))
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-5)


def test_limit_peak_only_scales_down() -> None:
    quiet = np.array([0.1, -0.3, 0.2], np.float32)
    np.testing.assert_array_equal(limit_peak(quiet), quiet)
    loud = np.array([2.0, -4.0, 1.0], np.float32)
    np.testing.assert_allclose(limit_peak(loud), loud * 0.99 / 4.0, rtol=1e-6)
    assert not np.any(limit_peak(np.zeros(5)))


def test_shares_bounded_and_counts_add_up() -> None:
    intended = ["pop", "pop", "metal", "metal", "metal", "blues"]
    predicted = ["pop", "rock", "metal", "pop", "metal", "blues"]
    s = shares(intended, predicted, ["pop", "metal", "blues", "classical"])
    assert s["n"] == 6 and s["correct"] == 4 and s["overall"] == pytest.approx(4 / 6)
    assert sum(v["n"] for v in s["per_genre"].values()) == s["n"]
    assert s["per_genre"]["classical"]["share"] is None
    assert all(0 <= v["share"] <= 1 for v in s["per_genre"].values() if v["share"] is not None)


class _FakeClassifier:
    """Stands in for genrelab.classify.Classifier: a fixed spectral rule over four genres."""

    def __init__(self, name: str) -> None:
        self.name, self.kind, self.labels, self.frames = name, "maps", list(GENRES), 20
        self.module = _TinyCNN()

    def predict_proba_audio(self, y: np.ndarray, *, sr: int = 22050) -> np.ndarray:
        z = np.abs(np.fft.rfft(y[:8192]))
        band = np.array_split(z, 4)
        p = np.array([b.sum() for b in band])
        return p / p.sum()

    def embed_audio(self, y: np.ndarray, *, sr: int = 22050) -> np.ndarray:
        z = np.abs(np.fft.rfft(y[:4096]))
        return np.array([b.mean() for b in np.array_split(z, 8)])

    def predict_and_embed_audio(self, y: np.ndarray, *, sr: int = 22050) -> tuple[np.ndarray, np.ndarray]:
        return self.predict_proba_audio(y, sr=sr), self.embed_audio(y, sr=sr)

    def predict_proba_mfcc(self, mfcc: np.ndarray) -> np.ndarray:
        level = float(np.clip((np.mean(mfcc[0]) + 400) / 100, 0, 3.99))  # louder c0 -> a later genre
        p = np.full(4, 0.1)
        p[int(level)] = 0.7
        return p / p.sum()


@pytest.fixture()
def fake_classify(monkeypatch):
    mod = types.ModuleType("genrelab.classify")
    mod.Classifier = types.SimpleNamespace(load=lambda run_dir, name, device="cpu": _FakeClassifier(name))
    mod.trained_classifiers = lambda run_dir: ["cnn", "dense", "convlstm"]
    monkeypatch.setitem(sys.modules, "genrelab.classify", mod)
    return mod


def test_recreate_writes_wavs_and_consistent_fidelity(trained_run: Path, fake_classify, tmp_path: Path) -> None:
    import soundfile as sf

    stale = trained_run / "recreated" / "lstm" / "pop" / "pop.05.wav"  # from an earlier --per-genre 6
    stale.parent.mkdir(parents=True, exist_ok=True)
    sf.write(stale, np.zeros(22050, np.float32), 22050)
    res = recreate(trained_run, genres=("pop", "metal"), per_genre=2, seconds=3.0, progress=False, guidance=0.5)
    assert not stale.exists()
    for m in ("lstm", "dense"):
        for g in ("pop", "metal"):
            for i in range(2):
                y, sr = sf.read(trained_run / "recreated" / m / g / f"{g}.{i:02d}.wav")
                assert sr == 22050 and len(y) == 3 * 22050 and 0 < np.max(np.abs(y)) <= 0.99 + 1e-4
    written = read_json(trained_run / "metrics" / "fidelity.json")
    assert written["classifiers"] == ["cnn", "dense", "convlstm"]
    for clf in ("cnn", "dense"):
        for source in ("lstm", "dense"):
            s = written["fidelity"][clf][source]
            assert 0 <= s["overall"] <= 1
            assert s["n"] == 4 == sum(v["n"] for v in s["per_genre"].values())
            assert s["correct"] == sum(v["correct"] for v in s["per_genre"].values())
    assert res["fidelity"].keys() == written["fidelity"].keys()
    for clf in ("cnn", "dense"):
        for source in ("oracle", "real"):
            s = written["fidelity"][clf][source]
            assert s["n"] == 4 and 0 <= s["overall"] <= 1  # two real clips per genre
        for source in ("lstm", "dense", "oracle"):
            fd = written["frechet"][clf][source]
            assert all(v is not None and v >= 0 for v in fd["per_genre"].values())
    # the real clips prefer tracks on the classifiers' test side (here the judge's: tracks 3, 4)
    for g in ("pop", "metal"):
        info = written["real_clips"][g]
        assert set(info["tracks"]) == {f"{g}.00003", f"{g}.00004"} and info["unseen_by_classifiers"] == 2
    assert len(list((trained_run / "recreated" / "oracle" / "pop").glob("*.wav"))) == 2
    # the judge: not the guide, never trained on a real clip it judges, both domains for generators
    judge = written["judge"]
    assert judge["model"] == "convlstm" and judge["guide"] == "cnn" != judge["model"]
    judge_test = set(read_json(trained_run / "metrics" / "convlstm.json")["test_tracks"])
    assert judge["judged_real_tracks"] and set(judge["judged_real_tracks"]) <= judge_test
    assert judge["judged_real_tracks_not_on_its_test_side"] == []
    for source in ("lstm", "dense"):
        assert 0 <= judge["shares"][source]["feature"]["overall"] <= 1
        assert judge["shares"][source]["audio"]["n"] == 4
    assert judge["shares"]["real"]["feature"] is None and judge["shares"]["oracle-mel"]["audio"]["n"] >= 1
    assert set(judge["frechet"]) == {"lstm", "dense", "oracle", "oracle-mel"}
    ratios = written["motion"]["ratios"]
    assert ratios["real"] == {"frame_change": 1.0, "beat_share": 1.0, "autocorr_peak": 1.0}
    assert all(np.isfinite(ratios["lstm"][k]) for k in ("frame_change", "beat_share"))
    assert written["motion"]["diversity_ratio"]["real"] == pytest.approx(1.0)


def test_recreate_errors(trained_run: Path, fake_classify, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        recreate(tmp_path / "nope", progress=False)
    with pytest.raises(ParameterError, match="jazz"):
        recreate(trained_run, genres=("jazz",), progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no trained recreation model"):
        recreate(tmp_path / "empty", progress=False)
    with pytest.raises(ParameterError, match="the judge must take no part"):
        recreate(trained_run, judge="cnn", guide_model="cnn", progress=False)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["recreate", "{missing}"], "does not exist"),
        (["recreate", "{run}", "--genres", "jazz,pop"], "unknown genre 'jazz'"),
        (["recreate", "{empty}"], "no trained recreation model"),
        (["recreate", "{run}", "--model", "gru"], "--model 'gru' is unknown"),
        (["recreate", "{run}", "--seconds", "1"], "seconds=1.0 must be between 3 and 60"),
        (["pca", "{missing}"], "does not exist"),
        (["pca", "{empty}"], "no recreated audio"),
    ],
)
def test_cli_errors_are_one_sentence(args, expected, trained_run: Path, tmp_path: Path, fake_classify) -> None:
    from typer.testing import CliRunner

    from genrelab.cli import app

    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "run": trained_run}
    result = CliRunner().invoke(app, [a.format(**paths) for a in args])
    assert result.exit_code != 0
    out = result.output.strip() if not hasattr(result, "stderr") or not result.stderr else result.stderr.strip()
    assert out.startswith("error: ") and expected in out and len(out.splitlines()) == 1, out
    assert "Traceback" not in result.output


def test_guidance_through_the_dct_steers_a_log_mel() -> None:
    """The diffusion model's guidance moves its log-mel; the classifier sees the DCT of it."""
    from genrelab.dsp.filters import dct_basis

    torch.manual_seed(0)
    cnn = _TinyCNN()
    rng = np.random.default_rng(0)
    mel = (-40 + 10 * rng.standard_normal((4, 128, 50))).astype(np.float32)  # (B, 128, T) dB
    basis = dct_basis(128, 20).astype(np.float32)  # (128, 20)
    to_mfcc = lambda m: torch.einsum("mc,bmt->bct", torch.from_numpy(basis), m)  # noqa: E731
    targets = [3, 2, 1, 0]
    before = target_log_prob(np.einsum("mc,bmt->bct", basis, mel), targets, cnn, frames=20)
    steered = guide(mel, targets, cnn, weight=20.0, frames=20, std=np.full(128, 10.0, np.float32), steps=30,
                    to_mfcc=to_mfcc)
    assert steered.shape == mel.shape
    after = target_log_prob(np.einsum("mc,bmt->bct", basis, steered), targets, cnn, frames=20)
    assert np.all(after > before) and np.mean(after - before) > 0.1, (before, after)
    timbre = guide(mel, targets, cnn, weight=20.0, frames=20, std=np.full(128, 10.0, np.float32), steps=30,
                   to_mfcc=to_mfcc, per_frame=False)
    shift = timbre - mel  # (B, 128, T): one offset per band and clip, so frame-to-frame changes stay
    np.testing.assert_allclose(shift, np.repeat(shift[:, :, :1], shift.shape[-1], axis=2), atol=1e-4)
    assert np.abs(shift).max() > 0.1
    got = target_log_prob(np.einsum("mc,bmt->bct", basis, timbre), targets, cnn, frames=20)
    assert np.mean(got - before) > 0.05, (before, got)
