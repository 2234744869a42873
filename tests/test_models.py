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
    assert set(MODELS) == {"dense", "cnn", "convlstm", "recreate-lstm", "recreate-dense", "recreate-diffusion"}
    assert CLASSIFIERS == ("dense", "cnn", "convlstm")
    assert MODELS["dense"].kind == "features"
    assert {MODELS["cnn"].kind, MODELS["convlstm"].kind} == {"maps"}
    assert {MODELS[n].kind for n in ("recreate-lstm", "recreate-dense", "recreate-diffusion")} == {"recreation"}
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


# ---- recreation heads: the default MSE head is unchanged; the mixture-density head samples


def _recreate(**kw):
    from genrelab.models.recreate import RecreateConfig, RecreationModel

    torch.manual_seed(0)
    return RecreationModel(RecreateConfig(n_mfcc=4, n_genres=2, context=3, genre_dim=4, hidden=16, dropout=0.0, **kw))


@pytest.mark.parametrize("lstm", [True, False])
def test_recreate_mse_head_is_the_default_and_its_loss_is_the_mse(lstm):
    from genrelab.models.recreate import RecreateConfig

    assert RecreateConfig().head == "mse" and RecreateConfig().input_noise == 0.0
    model = _recreate(lstm=lstm).eval()
    x, g = torch.randn(2, 10, 4), torch.tensor([0, 1])
    assert model(x, g).shape == (2, 7, 4)
    torch.testing.assert_close(model.loss(x, g), torch.nn.functional.mse_loss(model(x, g), x[:, 3:]))
    nxt, _ = model.sample(x[:, -3:], g, None)
    torch.testing.assert_close(nxt, model.step(x[:, -3:], g, None)[0])  # mse: sample is the point prediction


@pytest.mark.parametrize("lstm", [True, False])
def test_recreate_mdn_head_shapes_sampling_and_determinism(lstm):
    model = _recreate(lstm=lstm, head="mdn", mixtures=3).eval()
    x, g = torch.randn(2, 10, 4), torch.tensor([0, 1])
    assert model(x, g).shape == (2, 7, 4)  # the mixture mean
    assert torch.isfinite(model.loss(x, g))
    window = x[:, -3:]
    a, _ = model.sample(window, g, None, temperature=1.0, generator=torch.Generator().manual_seed(3))
    b, _ = model.sample(window, g, None, temperature=1.0, generator=torch.Generator().manual_seed(3))
    c, _ = model.sample(window, g, None, temperature=1.0, generator=torch.Generator().manual_seed(4))
    assert a.shape == (2, 4) and torch.equal(a, b) and not torch.allclose(a, c)
    with pytest.raises(ParameterError, match="temperature"):
        model.sample(window, g, None, temperature=-1.0)
    with pytest.raises(ParameterError, match="head"):
        _recreate(head="gmm")


def test_recreate_mdn_learns_a_two_valued_next_frame():
    """Frames alternate at random between +2 and -2: the MSE head predicts ~0 (the mean, never
    seen in the data); the mixture head's samples land near +-2, both signs."""
    gen = torch.Generator().manual_seed(0)
    x = (torch.randint(0, 2, (64, 12, 1), generator=gen).float() * 4 - 2).expand(64, 12, 4).contiguous()
    g = torch.zeros(64, dtype=torch.long)
    model = _recreate(lstm=False, head="mdn", mixtures=2)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(600):
        loss = model.loss(x, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        draws = torch.cat([model.sample(x[:, :3], g, None, generator=torch.Generator().manual_seed(s))[0]
                           for s in range(4)])  # (256, 4)
        mean = model(x, g)
    assert (draws.abs() - 2).abs().mean() < 0.3  # near +-2, not near their mean 0
    assert (draws[:, 0] > 0).float().mean().item() == pytest.approx(0.5, abs=0.2)
    assert mean.abs().mean() < 1.0  # the point prediction is the (in-between) mixture mean
