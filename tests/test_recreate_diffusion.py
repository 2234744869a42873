"""Genre-conditioned log-mel diffusion: shapes, over-fitting a small batch, determinism, checkpoints."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from genrelab.errors import ParameterError
from genrelab.features import log_mel
from genrelab.models.recreate_diffusion import (
    DiffusionConfig,
    MelDiffusion,
    fit_normaliser,
)

TINY = dict(n_mels=16, n_genres=3, channels=(16, 24), blocks=1, emb_dim=32, groups=4)


def _model(**kw) -> MelDiffusion:
    torch.manual_seed(0)
    return MelDiffusion(DiffusionConfig(**{**TINY, **kw}))


@pytest.mark.parametrize("frames", [32, 33, 130])
def test_forward_and_generate_shapes(frames):
    model = _model().eval()
    z = torch.randn(2, 16, frames)
    out = model(z, torch.tensor([0.3, 0.9]), torch.tensor([0, 3]))  # 3 = "no genre"
    assert out.shape == (2, 16, frames)
    maps = model.generate(torch.tensor([0, 2]), frames=frames, steps=3, generator=torch.Generator().manual_seed(0))
    assert maps.shape == (2, 16, frames) and torch.isfinite(maps).all()


def test_bad_arguments_raise():
    model = _model()
    with pytest.raises(ParameterError, match="expected \\(batch, 16, frames\\)"):
        model(torch.zeros(2, 8, 32), torch.zeros(2), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ParameterError, match="genres must be"):
        model.generate(torch.tensor([3]), frames=32)
    with pytest.raises(ParameterError, match="frames"):
        model.generate(torch.tensor([0]), frames=1)
    with pytest.raises(ParameterError, match="multiples of groups"):
        DiffusionConfig(channels=(10, 16), groups=4)
    with pytest.raises(ParameterError, match="prediction"):
        DiffusionConfig(prediction="x0")


@pytest.mark.parametrize("prediction", ["v", "eps"])
def test_overfits_a_small_batch(prediction):
    model = _model(prediction=prediction, cond_drop=0.0)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 16, 32, generator=gen)
    g = torch.tensor([0, 1, 2, 0])

    def fixed_loss() -> float:
        with torch.no_grad():
            return float(model.loss(x, g, generator=torch.Generator().manual_seed(5)))

    before = fixed_loss()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        loss = model.loss(x, g, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert fixed_loss() < 0.65 * before  # the denoising loss has a floor above 0 even for 4 maps


def test_trained_tiny_model_samples_near_its_batch():
    """After over-fitting two maps of two genres, DDIM draws each genre's map, not the other's."""
    model = _model(cond_drop=0.0, n_genres=2)
    gen = torch.Generator().manual_seed(2)
    x = torch.stack([torch.sin(torch.arange(32.0) / 2).expand(16, 32), -torch.ones(16, 32)])  # (2, 16, 32)
    g = torch.tensor([0, 1])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(400):
        loss = model.loss(x.repeat(4, 1, 1), g.repeat(4), generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = model.generate(torch.tensor([0, 1]), frames=32, steps=20, generator=torch.Generator().manual_seed(0))
    err_own = (out - x).pow(2).mean(dim=(1, 2))
    err_swap = (out - x.flip(0)).pow(2).mean(dim=(1, 2))
    assert torch.all(err_own < 0.5 * err_swap)


def test_same_seed_same_output_and_guidance():
    model = _model()
    for p in model.parameters():  # zero-initialised output layers would make every sample equal to the noise
        torch.nn.init.normal_(p, std=0.05)
    kw = dict(frames=40, steps=5)
    a = model.generate(torch.tensor([0, 1]), generator=torch.Generator().manual_seed(7), **kw)
    b = model.generate(torch.tensor([0, 1]), generator=torch.Generator().manual_seed(7), **kw)
    c = model.generate(torch.tensor([0, 1]), generator=torch.Generator().manual_seed(8), **kw)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    guided = model.generate(torch.tensor([0, 1]), generator=torch.Generator().manual_seed(7), guidance=2.0, **kw)
    assert guided.shape == a.shape and not torch.allclose(guided, a)
    s1 = model.generate(torch.tensor([0, 1]), generator=torch.Generator().manual_seed(7), eta=1.0, **kw)
    s2 = model.generate(torch.tensor([0, 1]), generator=torch.Generator().manual_seed(7), eta=1.0, **kw)
    assert torch.equal(s1, s2) and not torch.allclose(s1, a)  # stochastic steps: still one output per seed
    with pytest.raises(ParameterError, match="eta"):
        model.generate(torch.tensor([0]), frames=8, eta=2.0)


def test_checkpoint_round_trip(tmp_path):
    model = _model()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    mean, std = np.zeros(16, np.float32), np.ones(16, np.float32)
    from dataclasses import asdict

    from genrelab.train import load_checkpoint, save_checkpoint

    save_checkpoint(tmp_path / "m.pt", name="recreate-diffusion", kind="recreation", model=model,
                    labels=["a", "b", "c"], extra={"mel_mean": mean, "mel_std": std}, config=asdict(model.config))
    loaded, ckpt = load_checkpoint(tmp_path / "m.pt")
    assert loaded.config == model.config and ckpt["labels"] == ["a", "b", "c"]
    kw = dict(frames=24, steps=3)
    assert torch.equal(loaded.generate(torch.tensor([1]), generator=torch.Generator().manual_seed(0), **kw),
                       model.generate(torch.tensor([1]), generator=torch.Generator().manual_seed(0), **kw))


def test_log_mel_and_normaliser():
    y = np.sin(2 * np.pi * 440 * np.arange(22050) / 22050).astype(np.float32)
    m = log_mel(y)
    assert m.shape == (128, 1 + 22050 // 512) and m.dtype == np.float32
    assert m.max() - m.min() <= 80.0 + 1e-3
    mean, std = fit_normaliser(np.stack([m, m + 2.0]))
    assert mean.shape == std.shape == (128,)
    np.testing.assert_allclose(mean, m.mean(axis=1) + 1.0, rtol=1e-4, atol=1e-3)
    assert np.all(std > 0)


def test_projection_round_trip_and_whitening():
    from genrelab.models.recreate_diffusion import fit_projection

    rng = np.random.default_rng(0)
    low = rng.standard_normal((6, 3, 40)) * np.array([5.0, 2.0, 1.0])[None, :, None]  # 3 hidden directions
    maps = (np.einsum("mk,nkt->nmt", rng.standard_normal((16, 3)), low) - 30.0).astype(np.float32)  # (6, 16, 40)
    proj = fit_projection(maps, 3)
    codes = proj.encode(maps)
    assert codes.shape == (6, 3, 40)
    np.testing.assert_allclose(codes.std(axis=(0, 2)), 1.0, atol=0.02)  # whitened
    np.testing.assert_allclose(proj.decode(codes), maps, atol=1e-3)  # rank 3 data: exact with 3 components
    full = fit_projection(maps + rng.standard_normal(maps.shape).astype(np.float32), 16)
    noisy = maps + rng.standard_normal(maps.shape).astype(np.float32)
    np.testing.assert_allclose(full.decode(full.encode(noisy)), noisy, atol=1e-3)
    with pytest.raises(ParameterError, match="components"):
        fit_projection(maps, 17)


def test_train_diffusion_and_generate_through_the_run_folder(tiny_corpus, tmp_path):
    """recreate-diffusion end to end on a tiny corpus: checkpoint (weights_only), metrics, seeded maps."""
    import pandas as pd

    from genrelab.dsp.filters import dct_basis
    from genrelab.recreation.diffusion import MelGenerator, train_diffusion
    from genrelab.rundir import RunDir

    rows = [{"path": str(p), "track": p.stem, "label": p.parent.name} for p in sorted(tiny_corpus.glob("*/*.wav"))]
    clips = pd.DataFrame(rows)
    run = RunDir(tmp_path)
    excluded = {rows[0]["track"]}
    m = train_diffusion(types.SimpleNamespace(clips=clips), run, exclude=excluded, progress=False,
                        settings={"steps": 3, "components": 8, "crop": 64, "sample_steps": 3})
    assert m["n_train"] + m["n_val"] == 2 * (len(rows) - 1)  # two 3 s segments per 6 s clip, one track left out
    assert m["optimiser_steps"] >= 3 and np.isfinite(m["val_loss_ema"])
    assert run.plot("recreate-diffusion_mse").is_file() and run.plot("recreate-diffusion_true_vs_synthetic").is_file()
    gen = MelGenerator.load(run)
    assert rows[0]["track"] not in gen.val_tracks
    mfcc, mel = gen.generate(["pop", "metal"], frames=40, seed=5)
    assert mfcc.shape == (2, 20, 40) and mel.shape == (2, 128, 40)
    lo, hi = gen.mel_range
    assert mel.min() >= lo and mel.max() <= hi
    assert np.allclose(mfcc, np.einsum("mc,bmt->bct", dct_basis(128, 20), mel), atol=1e-3)
    again, _ = gen.generate(["pop", "metal"], frames=40, seed=5)
    assert np.array_equal(again, mfcc)
    assert gen.model.config.style_dim == 8 and gen.style_prior is not None  # a style per clip, from the prior
    assert gen.style_prior.mean.shape == (len(gen.labels), 16)  # mean and log std of the 8 components
    with pytest.raises(ParameterError, match="jazz"):
        gen.generate(["jazz"], frames=40)


def test_style_input_is_optional_and_followed():
    """A style-conditioned model: a NaN style row is "no style"; after fitting two maps whose
    only difference is their level, the style alone picks which one DDIM draws."""
    model = _model(style_dim=2, cond_drop=0.0, n_genres=1)
    z, t, g = torch.randn(2, 16, 32), torch.tensor([0.4, 0.8]), torch.tensor([0, 0])
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    none = model(z, t, g)
    assert torch.equal(model(z, t, g, torch.full((2, 2), float("nan"))), none)
    assert not torch.allclose(model(z, t, g, torch.ones(2, 2)), none)
    model = _model(style_dim=2, cond_drop=0.0, n_genres=1)
    x = torch.stack([torch.full((16, 32), 1.0), torch.full((16, 32), -1.0)])  # (2, 16, 32): one genre, two levels
    gen = torch.Generator().manual_seed(3)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(400):
        loss = model.loss(x.repeat(4, 1, 1), torch.zeros(8, dtype=torch.long), generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    styles = model.style_of(x)  # (2, 2): the level of each map
    assert styles.shape == (2, 2) and torch.allclose(styles, torch.tensor([[1.0, 1.0], [-1.0, -1.0]]))
    out = model.generate(torch.tensor([0, 0]), frames=32, steps=20, generator=torch.Generator().manual_seed(0), style=styles)
    assert out[0].mean() > 0.5 and out[1].mean() < -0.5
    with pytest.raises(ParameterError, match="style has shape"):
        model.generate(torch.tensor([0]), frames=8, style=torch.zeros(1, 3))
    both = _model(style_dim=3, style_std=True)
    assert both.style_of(torch.randn(2, 16, 10)).shape == (2, 6)


def test_style_prior_draws_each_genres_gaussian():
    from genrelab.models.recreate_diffusion import fit_style_prior

    rng = np.random.default_rng(0)
    a = rng.multivariate_normal([5.0, -1.0], [[1.0, 0.8], [0.8, 1.0]], size=400)
    b = rng.multivariate_normal([-3.0, 2.0], [[0.25, 0.0], [0.0, 4.0]], size=400)
    prior = fit_style_prior(np.concatenate([a, b]), np.repeat([0, 1], 400), 2)
    draws = prior.sample(np.repeat([0, 1], 4000), torch.Generator().manual_seed(0)).numpy().astype(np.float64)
    np.testing.assert_allclose(draws[:4000].mean(0), [5.0, -1.0], atol=0.15)
    np.testing.assert_allclose(np.cov(draws[:4000].T), [[1.0, 0.8], [0.8, 1.0]], atol=0.2)
    np.testing.assert_allclose(np.cov(draws[4000:].T), [[0.25, 0.0], [0.0, 4.0]], atol=0.35)
    lone = fit_style_prior(np.concatenate([a, b[:1]]), np.repeat([0, 1], [400, 1]), 3)  # genre 1: one segment, 2: none
    np.testing.assert_allclose(lone.mean[1], b[0])
    pooled = np.linalg.cholesky(np.cov(np.concatenate([a, b[:1]]).T))
    np.testing.assert_allclose(lone.chol[1], pooled, atol=0.1)  # the covariance of all segments
    np.testing.assert_allclose(lone.mean[2], np.concatenate([a, b[:1]]).mean(0))
    with pytest.raises(ParameterError, match="expected"):
        fit_style_prior(np.zeros((1, 2)), np.array([0]), 2)


def test_match_style_sets_each_channels_mean_and_std():
    from genrelab.models.recreate_diffusion import match_style

    z = torch.randn(3, 6, 50, generator=torch.Generator().manual_seed(0)) * 2 + 1
    style = torch.tensor([[0.5, -1.0, 0.0, 0.0], [2.0, 0.0, 1.0, -1.0], [0.0, 0.0, -2.0, 0.5]])  # (3, 2 S), S = 2
    out = match_style(z, style)
    np.testing.assert_allclose(out[:, :2].mean(-1).numpy(), style[:, :2].numpy(), atol=1e-5)
    np.testing.assert_allclose(out[:, :2].std(-1).numpy(), np.exp(style[:, 2:].numpy()), rtol=2e-3)
    assert torch.equal(out[:, 2:], z[:, 2:])  # channels outside the style untouched
    with pytest.raises(ParameterError, match="style has shape"):
        match_style(z, torch.zeros(3, 3))
