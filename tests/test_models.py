"""Models: registry, shapes, over-fitting one small batch, gradients to raw MFCCs, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrelab.errors import ParameterError
from genrelab.models import CLASSIFIERS, MODELS, build_model, get_spec
from genrelab.train import TrainConfig, fit, load_checkpoint, predict_proba, save_checkpoint

SMALL = {
    "dense": dict(n_features=57, n_classes=4, hidden=[32, 16], members=2, log_columns=[1, 3]),
    "cnn": dict(n_mfcc=20, frames=130, n_classes=4, channels=[8, 16, 32], hidden=32),
    "convlstm": dict(n_mfcc=20, frames=130, n_classes=4, steps=5, hidden_channels=8, hidden=32),
}


def _inputs(name: str, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if name == "dense":
        return rng.normal(5.0, 3.0, size=(n, 57)).astype(np.float32)
    return rng.normal(-10.0, 20.0, size=(n, 20, 130)).astype(np.float32)  # raw-MFCC-like scale


def test_registry_names_and_kinds():
    assert set(MODELS) == {"dense", "cnn", "convlstm", "recreate-lstm", "recreate-dense"}
    assert CLASSIFIERS == ("dense", "cnn", "convlstm")
    assert MODELS["dense"].kind == "features"
    assert {MODELS["cnn"].kind, MODELS["convlstm"].kind} == {"maps"}
    assert {MODELS["recreate-lstm"].kind, MODELS["recreate-dense"].kind} == {"recreation"}
    with pytest.raises(ParameterError, match=r"unknown model 'resnet'; choose from \["):
        get_spec("resnet")
    with pytest.raises(ParameterError, match="unknown model"):
        build_model("nope")


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_shapes_forward_and_embed(name):
    model = build_model(name, **SMALL[name]).eval()
    x = torch.from_numpy(_inputs(name, 3))
    assert model(x).shape == (3, 4)
    emb = model.embed(x)
    assert emb.ndim == 2 and emb.shape[0] == 3
    with pytest.raises(AssertionError):
        model(x[:, :10])  # wrong feature / coefficient count


def test_cnn_default_architecture_has_64_128_256_filters():
    model = build_model("cnn", n_classes=10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256]
    assert all(c.padding == "same" for c in convs)
    assert model.eval()(torch.zeros(2, 20, 130)).shape == (2, 10)


def test_convlstm_cell_state_shapes():
    from genrelab.models.convlstm import ConvLSTM2D, ConvLSTMCell

    cell = ConvLSTMCell(1, 6)
    h = c = torch.zeros(2, 6, 20, 13)
    h2, c2 = cell(torch.randn(2, 1, 20, 13), (h, c))
    assert h2.shape == c2.shape == (2, 6, 20, 13)
    assert torch.all(h2.abs() < 1)  # h = o * tanh(c)
    assert ConvLSTM2D(1, 6)(torch.randn(2, 7, 1, 20, 13)).shape == (2, 6, 20, 13)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_overfits_one_small_batch(name):
    n = 12
    x = _inputs(name, n, seed=1)
    y = np.arange(n) % 4
    cfg = dict(SMALL[name], dropout=0.0)
    if name == "dense":
        cfg["input_noise"] = 0.0
    model = build_model(name, **cfg)
    if name == "dense":
        model.set_normalisation(torch.from_numpy(x))
    else:
        model.norm.fit(torch.from_numpy(x))
    res = fit(model, x, y, config=TrainConfig(epochs=60, batch_size=n, lr=1e-2), seed=0, progress=False)
    assert res.history[-1]["train_loss"] < 0.1 * res.history[0]["train_loss"]
    assert (predict_proba(model, x).argmax(1) == y).mean() == 1.0


@pytest.mark.parametrize("name", ["cnn", "convlstm"])
def test_map_models_normalise_inside_and_pass_gradients_to_raw_mfcc(name):
    model = build_model(name, **SMALL[name]).eval()
    raw = torch.from_numpy(_inputs(name, 4))
    model.norm.fit(raw)
    assert torch.allclose(model.norm(raw).mean(dim=(0, 2)), torch.zeros(20), atol=1e-4)
    x = raw.clone().requires_grad_(True)
    model(x)[:, 0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_checkpoint_round_trip_rebuilds_same_outputs(name, tmp_path):
    model = build_model(name, **SMALL[name])
    x = torch.from_numpy(_inputs(name, 5))
    if name == "dense":
        model.set_normalisation(x)
    else:
        model.norm.fit(x)
    model.eval()
    save_checkpoint(tmp_path / f"{name}.pt", name=name, kind=MODELS[name].kind, model=model, labels=list("abcd"))
    again, ckpt = load_checkpoint(tmp_path / f"{name}.pt")
    assert ckpt["labels"] == list("abcd") and ckpt["name"] == name
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x), rtol=0, atol=1e-6)


def test_dense_ensemble_logits_are_log_mean_probabilities():
    model = build_model("dense", **SMALL["dense"]).eval()
    x = torch.from_numpy(_inputs("dense", 6))
    with torch.no_grad():
        members = torch.softmax(model.member_logits(x), -1).mean(0)
        torch.testing.assert_close(torch.softmax(model(x), -1), members, rtol=0, atol=1e-6)
