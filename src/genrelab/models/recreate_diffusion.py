"""Genre-conditioned diffusion over whole log-mel segment maps (``recreate-diffusion``).

Unlike the next-frame models (:mod:`genrelab.models.recreate`), this one is not
autoregressive: it denoises a whole segment at once, so a beat pattern is drawn as one shape
instead of being predicted frame by frame (where it averages away). Pieces and their sources:

* the data: log-mel maps ``(n_mels, T)`` in dB (librosa ``power_to_db(ref=1.0, top_db=80)``,
  the same scale the MFCCs are the DCT of; :func:`genrelab.features.log_mel`), standardised per mel band with the training
  frames' mean/std (:func:`fit_normaliser`); the network sees ``(B, n_mels, T)``.
* the network: a 1-D convolutional U-Net over time (Ronneberger et al. 2015, as used in DDPM,
  Ho et al. 2020) with the mel bands as channels; residual blocks with GroupNorm, a FiLM-style
  scale/shift from the conditioning (Perez et al. 2018), dilated blocks at the coarsest level.
  Fully convolutional: it samples any length that is a multiple of ``2 ** (levels - 1)``
  frames (other lengths are padded and cropped), e.g. 260 frames (6 s) after training on 128.
* the conditioning: a sinusoidal embedding of the noise level (Vaswani et al. 2017) plus a
  learned genre embedding with one extra "no genre" row, dropped at training time with
  probability ``cond_drop`` for classifier-free guidance (Ho & Salimans 2021).
* the process: the cosine schedule in continuous time, ``alpha = cos(pi t / 2)``,
  ``sigma = sin(pi t / 2)`` (Nichol & Dhariwal 2021), v-prediction (Salimans & Ho 2022) or
  epsilon-prediction, and the deterministic DDIM sampler (Song et al. 2021, eta = 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genrelab.errors import ParameterError

__all__ = [
    "DiffusionConfig",
    "MelDiffusion",
    "fit_normaliser",
    "MelProjection",
    "fit_projection",
    "build_recreate_diffusion",
    "StylePrior",
    "fit_style_prior",
    "match_style",
]


@dataclass(frozen=True)
class DiffusionConfig:
    """Hyper-parameters of :class:`MelDiffusion`; saved beside the weights."""

    n_mels: int = 128  # input channels: mel bands, or the components of a MelProjection
    n_genres: int = 10
    channels: tuple[int, ...] = (96, 128, 192)  # width of each U-Net level (time halves per level)
    blocks: int = 1  # residual blocks per level on the way down (and up)
    emb_dim: int = 128
    groups: int = 8  # GroupNorm groups; must divide every width
    dropout: float = 0.0
    cond_drop: float = 0.1  # training share of examples with the genre replaced by "no genre"
    prediction: str = "v"  # "v" (Salimans & Ho 2022) or "eps" (Ho et al. 2020)
    style_dim: int = 0  # channels whose time statistics form a per-clip style (0 = genre only)
    style_std: bool = False  # the style holds each channel's log std over time too, not only its mean

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        for name in ("n_mels", "n_genres", "blocks", "emb_dim", "groups"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ParameterError(f"{name}={value!r} must be a positive integer")
        if not self.channels or any(c <= 0 or c % self.groups for c in self.channels):
            raise ParameterError(f"channels={self.channels} must be positive multiples of groups={self.groups}")
        if self.emb_dim % 2:
            raise ParameterError(f"emb_dim={self.emb_dim} must be even (sine and cosine halves)")
        if not isinstance(self.style_dim, int) or isinstance(self.style_dim, bool) or self.style_dim < 0:
            raise ParameterError(f"style_dim={self.style_dim!r} must be an integer >= 0")
        if self.style_dim > self.n_mels:
            raise ParameterError(f"style_dim={self.style_dim} must be at most n_mels={self.n_mels}")
        for name in ("dropout", "cond_drop"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ParameterError(f"{name}={getattr(self, name)} must be in [0, 1)")
        if self.prediction not in ("v", "eps"):
            raise ParameterError(f"prediction={self.prediction!r} must be 'v' or 'eps'")


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of noise levels ``t (B,)`` in [0, 1] -> ``(B, dim)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angle = 1000.0 * t.float()[:, None] * freqs[None, :]  # (B, half)
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


class ResBlock(nn.Module):
    """``x (B, c_in, T)``, ``emb (B, E)`` -> ``(B, c_out, T)``: two convolutions, FiLM between."""

    def __init__(
        self, c_in: int, c_out: int, emb_dim: int, groups: int, *, dilation: int = 1, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=dilation, dilation=dilation)
        self.film = nn.Linear(emb_dim, 2 * c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity (on its skip path)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, c_out, T)
        scale, shift = self.film(F.silu(emb))[:, :, None].chunk(2, dim=1)  # (B, c_out, 1) each
        h = self.norm2(h) * (1 + scale) + shift  # (B, c_out, T)
        h = self.conv2(self.drop(F.silu(h)))  # (B, c_out, T)
        return self.skip(x) + h


class MelDiffusion(nn.Module):
    """Denoiser ``forward(z, t, genre)``: noisy maps ``z (B, n_mels, T)``, noise levels
    ``t (B,)`` in [0, 1], genre ids ``(B,)`` int64 (``n_genres`` = no genre) -> the v (or
    epsilon) prediction ``(B, n_mels, T)``. :meth:`loss` is the training objective,
    :meth:`generate` the DDIM sampler."""

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = c = config
        self.time_mlp = nn.Sequential(nn.Linear(c.emb_dim, c.emb_dim), nn.SiLU(), nn.Linear(c.emb_dim, c.emb_dim))
        self.genre = nn.Embedding(c.n_genres + 1, c.emb_dim)  # last row: "no genre" (guidance)
        self.style = (
            nn.Sequential(nn.Linear(self.style_size, c.emb_dim), nn.SiLU(), nn.Linear(c.emb_dim, c.emb_dim))
            if c.style_dim
            else None
        )
        self.stem = nn.Conv1d(c.n_mels, c.channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.pool = nn.ModuleList()
        prev = c.channels[0]
        for i, ch in enumerate(c.channels):
            self.down.append(
                nn.ModuleList(
                    [
                        ResBlock(prev if b == 0 else ch, ch, c.emb_dim, c.groups, dropout=c.dropout)
                        for b in range(c.blocks)
                    ]
                )
            )
            prev = ch
            if i < len(c.channels) - 1:
                self.pool.append(nn.Conv1d(ch, ch, 3, stride=2, padding=1))
        top = c.channels[-1]
        self.middle = nn.ModuleList(
            [ResBlock(top, top, c.emb_dim, c.groups, dilation=d, dropout=c.dropout) for d in (2, 4)]
        )
        self.lift = nn.ModuleList()
        self.up = nn.ModuleList()
        for i in range(len(c.channels) - 2, -1, -1):
            ch = c.channels[i]
            self.lift.append(nn.Conv1d(c.channels[i + 1], ch, 3, padding=1))
            self.up.append(
                nn.ModuleList(
                    [
                        ResBlock(2 * ch if b == 0 else ch, ch, c.emb_dim, c.groups, dropout=c.dropout)
                        for b in range(c.blocks)
                    ]
                )
            )
        self.out_norm = nn.GroupNorm(c.groups, c.channels[0])
        self.out = nn.Conv1d(c.channels[0], c.n_mels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @property
    def style_size(self) -> int:
        """Length of one style vector: ``style_dim`` means (and as many log stds with ``style_std``)."""
        return self.config.style_dim * (2 if self.config.style_std else 1)

    @property
    def multiple(self) -> int:
        """Frames per map must be a multiple of this (other lengths are padded and cropped)."""
        return 2 ** (len(self.config.channels) - 1)

    def forward(
        self, z: torch.Tensor, t: torch.Tensor, genre: torch.Tensor, style: torch.Tensor | None = None
    ) -> torch.Tensor:
        c = self.config
        if z.ndim != 3 or z.shape[1] != c.n_mels:
            raise ParameterError(f"maps have shape {tuple(z.shape)}; expected (batch, {c.n_mels}, frames)")
        assert t.shape == genre.shape == (z.shape[0],), (t.shape, genre.shape, z.shape)
        frames = z.shape[-1]
        pad = (-frames) % self.multiple
        h = F.pad(z, (0, pad))  # (B, M, T') with T' a multiple of 2 ** (levels - 1)
        emb = self.time_mlp(timestep_embedding(t, c.emb_dim)) + self.genre(genre)  # (B, E)
        if self.style is not None and style is not None:
            if style.shape != (z.shape[0], self.style_size):
                raise ParameterError(
                    f"style has shape {tuple(style.shape)}; expected ({z.shape[0]}, {self.style_size})"
                )
            none = torch.isnan(style[:, :1])  # (B, 1): rows without a style (guidance, dropped)
            emb = emb + torch.where(none, 0.0, self.style(torch.nan_to_num(style)))  # (B, E): one per clip
        h = self.stem(h)  # (B, C0, T')
        skips = []
        for i, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, emb)  # (B, C_i, T' / 2^i)
            if i < len(self.pool):
                skips.append(h)
                h = self.pool[i](h)  # (B, C_i, T' / 2^(i+1))
        for block in self.middle:
            h = block(h, emb)  # (B, C_top, T' / 2^(levels-1)), dilated: wider context
        for lift, blocks in zip(self.lift, self.up):
            skip = skips.pop()  # (B, C_i, 2 L)
            h = lift(F.interpolate(h, size=skip.shape[-1], mode="nearest"))  # (B, C_i, 2 L)
            h = torch.cat([h, skip], dim=1)  # (B, 2 C_i, 2 L)
            for block in blocks:
                h = block(h, emb)  # (B, C_i, 2 L)
        out = self.out(F.silu(self.out_norm(h)))  # (B, M, T')
        return out[..., :frames]  # (B, M, T)

    @staticmethod
    def schedule(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cosine schedule: ``t (...)`` in [0, 1] -> ``(alpha, sigma)``, ``alpha^2 + sigma^2 = 1``."""
        return torch.cos(0.5 * math.pi * t), torch.sin(0.5 * math.pi * t)

    def loss(self, x0: torch.Tensor, genre: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean squared error of the v (or epsilon) prediction on clean maps ``x0 (B, n_mels, T)``
        at uniform random noise levels; genres are dropped with probability ``cond_drop``."""
        b = x0.shape[0]
        t = torch.rand(b, generator=generator).to(x0.device)  # (B,)
        eps = torch.randn(x0.shape, generator=generator).to(x0.device)  # (B, M, T)
        drop = torch.rand(b, generator=generator).to(x0.device) < self.config.cond_drop
        genre = torch.where(drop, torch.full_like(genre, self.config.n_genres), genre)  # (B,)
        style = self.style_of(x0)  # (B, S) or None
        if style is not None:
            style = torch.where(drop[:, None], torch.nan, style)
        a, s = (v[:, None, None] for v in self.schedule(t))  # (B, 1, 1)
        z = a * x0 + s * eps  # (B, M, T) noisy maps
        target = a * eps - s * x0 if self.config.prediction == "v" else eps
        return F.mse_loss(self(z, t, genre, style), target)

    def style_of(self, x0: torch.Tensor) -> torch.Tensor | None:
        """The style of clean maps ``x0 (B, n_mels, T)``: the time mean of their first ``style_dim``
        channels (for a :class:`MelProjection`, the top principal components: the clip's average
        timbre), then with ``style_std`` their log std over time (how much it moves):
        ``(B, style_size)``; None when the model has no style input."""
        s = self.config.style_dim
        if not s:
            return None
        top = x0[:, :s]  # (B, S, T)
        if not self.config.style_std:
            return top.mean(dim=-1)  # (B, S)
        return torch.cat([top.mean(dim=-1), torch.log(top.std(dim=-1) + 1e-3)], dim=1)  # (B, 2 S)

    def _denoise(
        self, z: torch.Tensor, t: float, genre: torch.Tensor, guidance: float, style: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``z (B, M, T)`` at level ``t`` -> predicted ``(x0, eps)``, guided when ``guidance != 1``."""
        b = z.shape[0]
        tt = torch.full((b,), float(t), device=z.device)
        if guidance == 1.0:
            out = self(z, tt, genre, style)  # (B, M, T)
        else:
            null = torch.full_like(genre, self.config.n_genres)
            styles = None if style is None else torch.cat([style, torch.full_like(style, torch.nan)])
            both = self(torch.cat([z, z]), torch.cat([tt, tt]), torch.cat([genre, null]), styles)  # (2B, M, T)
            out = both[b:] + guidance * (both[:b] - both[b:])  # classifier-free guidance
        a, s = self.schedule(torch.tensor(float(t)))
        if self.config.prediction == "v":
            return a * z - s * out, s * z + a * out
        x0 = (z - s * out) / a.clamp_min(1e-4)
        return x0, out

    @torch.no_grad()
    def generate(
        self,
        genres: torch.Tensor,
        *,
        frames: int,
        steps: int = 40,
        guidance: float = 1.0,
        generator: torch.Generator | None = None,
        clip: float | None = None,
        eta: float = 0.0,
        style: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """DDIM from pure noise: genre ids ``(B,)`` -> normalised maps ``(B, n_mels, frames)``.

        ``guidance`` is the classifier-free guidance weight (1 = conditional model alone,
        0 = unconditional); ``clip`` bounds the predicted clean map at each step (None = off);
        ``eta`` is DDIM's stochasticity (0 = deterministic, 1 = DDPM-like ancestral steps).
        ``style (B, style_size)`` is one style per clip (e.g. drawn by :class:`StylePrior`); None
        samples without one.
        All noise is drawn from ``generator`` on the CPU, so a seed gives the same maps on
        any device.
        """
        if not isinstance(frames, int) or frames < 2:
            raise ParameterError(f"frames={frames!r} must be an integer >= 2")
        if not isinstance(steps, int) or steps < 1:
            raise ParameterError(f"steps={steps!r} must be a positive integer")
        if not math.isfinite(guidance) or guidance < 0:
            raise ParameterError(f"guidance={guidance} must be a finite number >= 0")
        if not 0.0 <= eta <= 1.0:
            raise ParameterError(f"eta={eta} must be in [0, 1]")
        genres = torch.as_tensor(genres, dtype=torch.long)
        if genres.ndim != 1 or genres.numel() == 0 or genres.min() < 0 or genres.max() >= self.config.n_genres:
            raise ParameterError(f"genres must be a non-empty 1-D list of ids in [0, {self.config.n_genres})")
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        g = genres.to(device)
        if style is not None:
            style = torch.as_tensor(style, dtype=torch.float32).to(device)
            if style.shape != (len(g), self.style_size):
                raise ParameterError(f"style has shape {tuple(style.shape)}; expected ({len(g)}, {self.style_size})")
        z = torch.randn((len(g), self.config.n_mels, frames), generator=generator).to(device)  # (B, M, T) at t = 1
        levels = torch.linspace(1.0, 0.0, steps + 1).tolist()
        for t_now, t_next in zip(levels[:-1], levels[1:]):
            x0, eps = self._denoise(z, t_now, g, guidance, style)  # (B, M, T) each
            if clip is not None:
                x0 = x0.clamp(-clip, clip)
            a, s = self.schedule(torch.tensor(t_next))
            if eta > 0 and t_next > 0:
                a_now, s_now = self.schedule(torch.tensor(t_now))
                c = eta * (s / s_now) * torch.sqrt((1 - (a_now / a) ** 2).clamp_min(0))  # DDIM's sigma_t
                fresh = torch.randn(z.shape, generator=generator).to(device)
                z = a * x0 + torch.sqrt((s**2 - c**2).clamp_min(0)) * eps + c * fresh  # (B, M, T)
            else:
                z = a * x0 + s * eps  # (B, M, T) at level t_next
        self.train(was_training)
        return z


def fit_normaliser(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and std ``(n_mels,)`` each, float32, of training maps ``(N, n_mels, T)``."""
    x = np.asarray(maps, dtype=np.float64)
    if x.ndim != 3 or x.shape[0] == 0:
        raise ParameterError(f"maps have shape {x.shape}; expected (segments, n_mels, frames)")
    return x.mean(axis=(0, 2)).astype(np.float32), (x.std(axis=(0, 2)) + 1e-3).astype(np.float32)


@dataclass(frozen=True)
class MelProjection:
    """Standardise per band, then keep the top principal components of the frames, whitened.

    ``mean, std (n_mels,)``, ``basis (n_mels, k)`` orthonormal columns, ``scale (k,)`` the
    components' std. :meth:`encode` ``(N, n_mels, T)`` -> ``(N, k, T)``, :meth:`decode` back (in
    dB). Diffusing over ``k`` components instead of all bands keeps sampling noise out of the
    directions real frames do not use: a full-band model (700 steps) left its samples with 3.5x
    the real band-to-band change.
    """

    mean: np.ndarray
    std: np.ndarray
    basis: np.ndarray
    scale: np.ndarray

    def encode(self, maps: np.ndarray) -> np.ndarray:
        z = (np.asarray(maps, np.float32) - self.mean[:, None]) / self.std[:, None]  # (N, M, T)
        return (np.einsum("mk,nmt->nkt", self.basis, z) / self.scale[:, None]).astype(np.float32)  # (N, k, T)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        z = np.einsum("mk,nkt->nmt", self.basis, np.asarray(codes, np.float32) * self.scale[:, None])  # (N, M, T)
        return (z * self.std[:, None] + self.mean[:, None]).astype(np.float32)

    def to_dict(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "std": self.std, "basis": self.basis, "scale": self.scale}


def fit_projection(maps: np.ndarray, components: int) -> MelProjection:
    """:class:`MelProjection` of training maps ``(N, n_mels, T)`` keeping ``components`` directions."""
    mean, std = fit_normaliser(maps)
    if not isinstance(components, int) or not 0 < components <= maps.shape[1]:
        raise ParameterError(f"components={components!r} must be an integer in [1, {maps.shape[1]}]")
    z = (np.asarray(maps, np.float64) - mean[:, None]) / std[:, None]  # (N, M, T)
    frames = z.transpose(0, 2, 1).reshape(-1, z.shape[1])  # (N T, M)
    w, v = np.linalg.eigh(frames.T @ frames / len(frames))  # ascending
    order = np.argsort(w)[::-1][:components]
    return MelProjection(
        mean, std, v[:, order].astype(np.float32), np.sqrt(np.maximum(w[order], 1e-8)).astype(np.float32)
    )


def build_recreate_diffusion(**cfg: Any) -> MelDiffusion:
    """Registry-style factory for ``recreate-diffusion`` (config keywords as stored in a checkpoint)."""
    return MelDiffusion(DiffusionConfig(**cfg))


@dataclass(frozen=True)
class StylePrior:
    """Per-genre Gaussian over clip styles (:meth:`MelDiffusion.style_of`): ``mean (G, D)`` and
    the lower Cholesky factor of each covariance ``chol (G, D, D)``. Fitted on the training
    segments, it draws a new style for each generated clip, so clips of one genre differ in
    timbre and in how much it moves, as real tracks do, instead of all sitting at the genre's
    average."""

    mean: np.ndarray
    chol: np.ndarray

    def sample(self, genres: np.ndarray, generator: torch.Generator) -> torch.Tensor:
        """Genre ids ``(B,)`` -> styles ``(B, D)`` float32, from ``generator``'s normal draws."""
        ids = np.asarray(genres, dtype=np.int64)
        n = torch.randn((len(ids), self.mean.shape[1]), generator=generator).double().numpy()  # (B, D)
        return torch.from_numpy(self.mean[ids] + np.einsum("bij,bj->bi", self.chol[ids], n)).float()


def fit_style_prior(styles: np.ndarray, genres: np.ndarray, n_genres: int) -> StylePrior:
    """:class:`StylePrior` of training styles ``(N, D)`` (N >= 2) with genre ids ``(N,)``.
    Covariances are Ledoit-Wolf shrinkage estimates (scikit-learn): a genre has fewer segments
    than a style has numbers, and the plain sample covariance would be singular. A genre with
    fewer than 2 segments gets the covariance of all segments (and, with none, their mean)."""
    from sklearn.covariance import LedoitWolf

    x = np.asarray(styles, dtype=np.float64)
    y = np.asarray(genres, dtype=np.int64)
    if x.ndim != 2 or len(x) < 2 or y.shape != (len(x),):
        raise ParameterError(f"styles have shape {x.shape} for {y.shape} genre ids; expected (N >= 2, D) and (N,)")
    pooled = LedoitWolf().fit(x).covariance_
    means, chols = [], []
    for k in range(n_genres):
        rows = x[y == k]
        cov = LedoitWolf().fit(rows).covariance_ if len(rows) >= 2 else pooled
        rows = rows if len(rows) else x
        cov = cov + np.eye(len(cov)) * 1e-8 * max(float(np.trace(cov)), 1.0)
        means.append(rows.mean(axis=0))
        chols.append(np.linalg.cholesky(cov))
    return StylePrior(np.stack(means), np.stack(chols))


def match_style(z: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Give generated maps ``z (B, C, T)`` the style ``(B, 2 S)`` they were asked for (means, then
    log stds over time of the first ``S`` channels): each of those channels is shifted and scaled
    to that mean and std (adaptive instance normalisation, Huang & Belongie 2017); the others are
    left as they are. The sampler follows a style's means closely but its stds only loosely."""
    s = style.shape[1] // 2
    if style.shape != (z.shape[0], 2 * s) or s > z.shape[1]:
        raise ParameterError(
            f"style has shape {tuple(style.shape)}; expected ({z.shape[0]}, 2 S) with S <= {z.shape[1]}"
        )
    top = z[:, :s]  # (B, S, T)
    unit = (top - top.mean(dim=-1, keepdim=True)) / (top.std(dim=-1, keepdim=True) + 1e-3)
    matched = unit * torch.exp(style[:, s:, None]) + style[:, :s, None]  # (B, S, T)
    return torch.cat([matched, z[:, s:]], dim=1)
