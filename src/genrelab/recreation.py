"""Genre-conditioned MFCC recreation: train, generate, guide, invert, reclassify (fidelity).

Training data are the 3 s segment maps of a :class:`~genrelab.features.FeatureSet`
(``maps (N, n_mfcc, 130)``): each segment is one training sequence (its 2 edge frames at each
end dropped: centre padding makes them quieter), standardised per MFCC coefficient with the
training side's mean/std; 80/20 split by track (:func:`genrelab.data.splits.make_splits`,
``random:<val_fraction>``, stratified by genre). Segments are not concatenated back into
tracks: the LSTM's state was measured to forget within ~60 frames, so longer training
sequences would add cost, not memory.

``RUN/models/recreate-<x>.pt``: ``{"name", "kind": "recreation", "config", "state_dict",
"labels", "mfcc_mean" (n_mfcc,), "mfcc_std" (n_mfcc,), "residual_std" (n_mfcc,) (RMS of the
teacher-forced validation residual, standardised units), "genre_mean" (n_genres, n_mfcc),
"mfcc_min"/"mfcc_max" (n_mfcc,) (range of the training frames), "frames", "val_tracks",
"protocol", "sr", "n_fft", "hop_length", "created"}``.
``RUN/metrics/recreate-<x>.json``: ``history`` (``{epoch, train_loss, val_loss}``), ``val_mse``
(best epoch, teacher-forced), ``val_mse_persistence`` (the "repeat the last frame" baseline),
``n_train``, ``n_val`` (segments), ``n_val_tracks``, ``config``, ``labels``, ``protocol``,
``epochs``, ``lr``, ``batch_size``.

``RUN/metrics/fidelity.json`` (written by :func:`recreate`)::

    {"genres": [...], "models": ["lstm", ...], "missing": [models asked for, not trained],
     "per_genre": N, "seconds": S, "temperature": T, "guidance": W, "prompt_frames": P,
     "seed": s, "sr": 22050, "classifiers": ["dense", "cnn", ...],
     "real_clips": {genre: {"n", "tracks", "unseen_by_classifiers", "unseen_by_recreation"}},
     "sources": {"lstm": "recreated by recreate-lstm", "oracle": "...", "real": "..."},
     "fidelity": {classifier: {source: {"overall": share, "n": n, "correct": k,
                                        "per_genre": {genre: {"share", "n", "correct"}}}}},
     "frechet": {classifier: {source: {"per_genre": {genre: d}, "mean": d}}},
     "frechet_covariance": "...", "clips": [{"source", "genre", "file", "predicted": {clf: label}}]}

``source`` is a recreation model (``lstm``/``dense``), ``oracle`` (real held-out clips ->
MFCC -> ``mfcc_to_audio`` -> classifier: what inversion alone costs) or ``real`` (the same
real clips, unaltered); the real clips prefer tracks on the classifiers' test side and the
recreation models' validation side (``real_clips`` says how many are). Shares are in [0, 1].
Wavs keep the level their MFCCs imply (only scaled down to avoid clipping, see
:func:`limit_peak`). Fréchet distances compare the classifier's
penultimate embeddings of the ``real`` clips of a genre with those of a source, using
Ledoit-Wolf shrinkage covariances (there are only a few clips per genre).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from genrelab.errors import DatasetError, ParameterError
from genrelab.io import read_json, write_json, write_with
from genrelab.models.recreate import RecreateConfig, RecreationModel
from genrelab.progress import track

RECREATION_MODELS: tuple[str, ...] = ("recreate-lstm", "recreate-dense")
DEFAULT_GENRES: tuple[str, ...] = ("classical", "pop", "metal", "blues")
SR, N_FFT, HOP_LENGTH = 22050, 2048, 512
EDGE = 2  # frames dropped at each end of a segment map (centre padding makes them quieter)


# ---------------------------------------------------------------------------------------------
# training


def train_recreation(
    features: Any,
    models: Sequence[str],
    out: Path,
    *,
    epochs: int = 20,
    batch_size: int = 32,
    lr: float = 1e-4,
    val_fraction: float = 0.2,
    seed: int = 32,
    device: str = "cpu",
    progress: bool = True,
    config: dict[str, Any] | None = None,
) -> dict[str, dict]:
    """Train each of ``models`` (``recreate-lstm``/``recreate-dense``) on ``features.maps``.

    Writes ``out/models/<name>.pt``, ``out/metrics/<name>.json`` and the plots
    ``out/plots/<name>_mse.png``, ``<name>_true_vs_synthetic.png``; returns ``{name: metrics}``.
    ``config`` overrides :class:`RecreateConfig` fields (e.g. ``{"hidden": 64}``).
    """
    from genrelab.data.splits import make_splits

    models = list(models)
    for name in models:
        if name not in RECREATION_MODELS:
            raise ParameterError(f"unknown recreation model {name!r}; choose from {list(RECREATION_MODELS)}")
    for key, value, ok in (("epochs", epochs, epochs >= 1), ("batch_size", batch_size, batch_size >= 1),
                           ("lr", lr, lr > 0), ("val_fraction", val_fraction, 0 < val_fraction < 1)):
        if not ok:
            raise ParameterError(f"{key}={value} is out of range (epochs, batch_size >= 1; lr > 0; 0 < val_fraction < 1)")
    maps = getattr(features, "maps", None)
    if maps is None:
        raise DatasetError("recreation models need MFCC maps; prepare the features from an audio folder, not a CSV")
    x_raw = np.asarray(maps.maps, dtype=np.float32)
    if x_raw.ndim != 3 or len(x_raw) == 0:
        raise DatasetError(f"MFCC maps have shape {x_raw.shape}; expected (segments, n_mfcc, frames)")
    x_raw = x_raw[:, :, EDGE:-EDGE]  # (N, n_mfcc, F)
    labels = sorted(set(map(str, maps.label)))
    y = np.array([labels.index(str(v)) for v in maps.label], dtype=np.int64)
    split = make_splits(f"random:{val_fraction}", list(map(str, maps.track)), list(map(str, maps.label)), seed=seed)[0]
    if len(split.train) == 0 or len(split.test) == 0:
        raise DatasetError(f"too few tracks ({len(set(maps.track))}) for a {val_fraction:g} validation split by track")
    overrides = {k: v for k, v in (config or {}).items() if k not in ("lstm", "n_mfcc", "n_genres")}
    unknown = sorted(set(overrides) - set(RecreateConfig.__dataclass_fields__))
    if unknown:
        raise ParameterError(f"unknown recreation config key {unknown[0]!r}; choose from "
                             f"{sorted(set(RecreateConfig.__dataclass_fields__) - {'lstm', 'n_mfcc', 'n_genres'})}")
    out = Path(out)
    results: dict[str, dict] = {}
    for name in models:
        torch.manual_seed(seed)
        cfg = RecreateConfig(n_mfcc=x_raw.shape[1], n_genres=len(labels), lstm=name == "recreate-lstm", **overrides)
        if x_raw.shape[2] <= cfg.context + 1:
            raise DatasetError(f"segment maps have {x_raw.shape[2]} frames; recreation needs more than {cfg.context + 1}")
        results[name] = _fit_one(name, cfg, x_raw, y, labels, split, out, epochs=epochs, batch_size=batch_size,
                                 lr=lr, seed=seed, device=device, progress=progress,
                                 protocol=f"random:{val_fraction} seed={seed}",
                                 val_tracks=sorted(set(map(str, maps.track[split.test]))))
    return results


def _fit_one(name, cfg, x_raw, y, labels, split, out, *, epochs, batch_size, lr, seed, device, progress,
             protocol, val_tracks) -> dict:
    """Fit one model; write checkpoint, metrics and plots; return the metrics."""
    train_x = x_raw[split.train]
    mean = train_x.mean(axis=(0, 2)).astype(np.float32)  # (n_mfcc,)
    std = (train_x.std(axis=(0, 2)) + 1e-6).astype(np.float32)
    z = ((x_raw - mean[None, :, None]) / std[None, :, None]).transpose(0, 2, 1)  # (N, F, n_mfcc)
    z_t = torch.from_numpy(np.ascontiguousarray(z))
    y_t = torch.from_numpy(y)
    tr, va = torch.from_numpy(split.train), torch.from_numpy(split.test)
    model = RecreationModel(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    history, best, best_state = [], math.inf, None
    for epoch in track(range(1, epochs + 1), description=f"train {name}", enabled=progress):
        model.train()
        order = tr[torch.randperm(len(tr), generator=gen)]
        total, count = 0.0, 0
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            xb, gb = z_t[idx].to(device), y_t[idx].to(device)
            loss = nn.functional.mse_loss(model(xb, gb), xb[:, cfg.context :])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            count += len(idx)
        val_loss, _ = _evaluate(model, z_t[va], y_t[va], batch_size=max(batch_size, 64), device=device)
        history.append({"epoch": epoch, "train_loss": total / count, "val_loss": val_loss})
        if val_loss < best:
            best, best_state = val_loss, {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    val_mse, residual_std = _evaluate(model, z_t[va], y_t[va], batch_size=max(batch_size, 64), device=device)
    zv = z[split.test]
    persistence = float(np.mean((zv[:, cfg.context :] - zv[:, cfg.context - 1 : -1]) ** 2))  # "repeat the last frame"
    genre_mean = np.stack([z[split.train][y[split.train] == g].mean(axis=(0, 1)) if np.any(y[split.train] == g)
                           else np.zeros(cfg.n_mfcc, np.float32) for g in range(len(labels))])
    ckpt = {
        "name": name, "kind": "recreation", "config": asdict(cfg),
        "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
        "labels": labels, "mfcc_mean": mean, "mfcc_std": std, "residual_std": residual_std.astype(np.float32),
        "genre_mean": genre_mean.astype(np.float32), "frames": int(x_raw.shape[2]), "val_tracks": val_tracks,
        "mfcc_min": train_x.min(axis=(0, 2)).astype(np.float32), "mfcc_max": train_x.max(axis=(0, 2)).astype(np.float32),
        "protocol": protocol, "sr": SR, "n_fft": N_FFT, "hop_length": HOP_LENGTH,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_with(out / "models" / f"{name}.pt", lambda p: torch.save(ckpt, p))
    metrics = {
        "model": name, "history": history, "val_mse": val_mse, "val_mse_persistence": persistence,
        "labels": labels, "config": asdict(cfg),
        "protocol": protocol, "n_train": int(len(split.train)), "n_val": int(len(split.test)),
        "n_val_tracks": len(val_tracks), "epochs": len(history), "lr": lr, "batch_size": batch_size,
    }
    write_json(out / "metrics" / f"{name}.json", metrics)
    _training_plots(Recreator(model.eval(), ckpt, device), z_t[va[0]].numpy(), labels[int(y[va[0]])], history, out,
                    seed=seed, baseline=persistence)
    return metrics


@torch.no_grad()
def _evaluate(model: RecreationModel, z: torch.Tensor, g: torch.Tensor, *, batch_size: int, device: str):
    """Teacher-forced MSE on ``z (N, F, C)`` and the per-coefficient residual RMS ``(C,)``."""
    model.eval()
    sq = torch.zeros(z.shape[-1], dtype=torch.float64)
    n = 0
    for i in range(0, len(z), batch_size):
        xb, gb = z[i : i + batch_size].to(device), g[i : i + batch_size].to(device)
        r = (model(xb, gb) - xb[:, model.config.context :]).double().cpu()  # (B, F-k, C)
        sq += (r**2).sum(dim=(0, 1))
        n += r.shape[0] * r.shape[1]
    per = (sq / max(n, 1)).numpy()
    return float(per.mean()), np.sqrt(per)


def _training_plots(rec: "Recreator", z_val: np.ndarray, genre: str, history, out: Path, *, seed: int,
                    baseline: float | None = None) -> None:
    """``<name>_mse.png`` and ``<name>_true_vs_synthetic.png`` for one held-out segment ``z_val (F, C)``."""
    from genrelab.plots.recreate import mse_curves, true_vs_synthetic

    name = rec.name
    k = rec.config.context
    with torch.no_grad():
        zt = torch.from_numpy(z_val)[None].to(rec.device)
        g = torch.tensor([rec.labels.index(genre)], device=rec.device)
        teacher = rec.model(zt, g)[0].cpu().numpy()  # (F-k, C)
    real = rec.unstandardise(z_val[None])[0]  # (C, F)
    teacher_raw = np.concatenate([real[:, :k], rec.unstandardise(teacher[None])[0]], axis=1)
    free = generate(rec, [genre], frames=real.shape[1] - 2 * k, prompts=real[None, :, : 2 * k], seed=seed)[0]
    free_raw = np.concatenate([real[:, : 2 * k], free], axis=1)
    _save_figure(mse_curves(history, title=name, baseline=baseline), out / "plots" / f"{name}_mse.png")
    fig = true_vs_synthetic(real, teacher_raw, free_raw, sr=SR, hop_length=HOP_LENGTH, prompt_frames=2 * k,
                            title=f"{name}: held-out {genre} segment")
    _save_figure(fig, out / "plots" / f"{name}_true_vs_synthetic.png")


def _save_figure(fig, path: Path) -> None:
    from genrelab.plots import save_figure

    save_figure(fig, path)


# ---------------------------------------------------------------------------------------------
# loading and generation


class Recreator:
    """A trained recreation model with its standardisation, ready to generate raw MFCC frames."""

    def __init__(self, model: RecreationModel, ckpt: dict, device: str = "cpu") -> None:
        self.model, self.ckpt, self.device = model, ckpt, device
        self.name: str = ckpt["name"]
        self.config: RecreateConfig = model.config
        self.labels: list[str] = list(ckpt["labels"])
        self.mean = np.asarray(ckpt["mfcc_mean"], np.float32)
        self.std = np.asarray(ckpt["mfcc_std"], np.float32)
        self.residual_std = np.asarray(ckpt["residual_std"], np.float32)
        self.genre_mean = np.asarray(ckpt["genre_mean"], np.float32)
        self.val_tracks: list[str] = list(ckpt.get("val_tracks", []))
        # standardised range of the training frames (generation stays inside it); +-5 if unknown
        lo, hi = ckpt.get("mfcc_min"), ckpt.get("mfcc_max")
        self.z_min = (np.asarray(lo, np.float32) - self.mean) / self.std if lo is not None else np.full_like(self.mean, -5.0)
        self.z_max = (np.asarray(hi, np.float32) - self.mean) / self.std if hi is not None else np.full_like(self.mean, 5.0)

    @classmethod
    def load(cls, run_dir: Path, name: str, *, device: str = "cpu") -> "Recreator":
        """Load ``RUN/models/<name>.pt``; DatasetError when absent."""
        path = Path(run_dir) / "models" / f"{name}.pt"
        if not path.is_file():
            raise DatasetError(f"no trained recreation model {name!r} in {path.parent}; train it with "
                               f"`genrelab train DATA --model {name} --out {run_dir}`")
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        model = RecreationModel(RecreateConfig(**ckpt["config"]))
        model.load_state_dict(ckpt["state_dict"])
        return cls(model.to(device).eval(), ckpt, device)

    def standardise(self, mfcc: np.ndarray) -> np.ndarray:
        """Raw ``(B, C, F)`` -> standardised ``(B, F, C)``."""
        return ((mfcc - self.mean[:, None]) / self.std[:, None]).transpose(0, 2, 1).astype(np.float32)

    def unstandardise(self, z: np.ndarray) -> np.ndarray:
        """Standardised ``(B, F, C)`` -> raw ``(B, C, F)``."""
        return (z * self.std + self.mean).transpose(0, 2, 1).astype(np.float32)


@torch.no_grad()
def generate(
    rec: Recreator,
    genres: Sequence[str],
    *,
    frames: int,
    prompts: np.ndarray | None = None,
    temperature: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """Free-running generation, one sequence per entry of ``genres``.

    ``prompts (B, n_mfcc, P)`` raw MFCC frames (P > context) start the sequences; without
    them each starts from its genre's mean frame plus noise. At each step Gaussian noise
    ``residual_std * temperature`` (standardised units) is added to the predicted frame. The
    default 0.5 gave generated MFCCs the within-clip spread of real ones on the synthesised
    corpus (standardised time-std 0.63-0.67 vs 0.68 real); at 1.0 the dense model's output
    ran away (4.0).
    Each generated frame is clamped per coefficient to the range of the training frames, so a
    run-away step (seen with the dense model: frames 10^3 times louder than the rest, louder
    than any real audio) cannot feed back or set the clip's level.
    Returns raw MFCC ``(B, n_mfcc, frames)`` (the prompt is not included). Deterministic per ``seed``.
    """
    if frames < 1:
        raise ParameterError(f"frames={frames} must be a positive integer")
    if temperature < 0 or not math.isfinite(temperature):
        raise ParameterError(f"temperature={temperature} must be a finite number >= 0")
    unknown = [g for g in genres if g not in rec.labels]
    if unknown:
        raise ParameterError(f"unknown genre {unknown[0]!r} for {rec.name}; choose from {rec.labels}")
    k, c = rec.config.context, rec.config.n_mfcc
    b = len(genres)
    gen = torch.Generator().manual_seed(int(seed))
    g = torch.tensor([rec.labels.index(x) for x in genres], dtype=torch.long, device=rec.device)
    sigma = torch.from_numpy(rec.residual_std * float(temperature)).to(rec.device)  # (C,)
    if prompts is not None:
        prompts = np.asarray(prompts, np.float32)
        if prompts.ndim != 3 or prompts.shape[0] != b or prompts.shape[1] != c or prompts.shape[2] < k:
            raise ParameterError(f"prompts have shape {prompts.shape}; expected ({b}, {c}, P >= {k})")
        seq = torch.from_numpy(rec.standardise(prompts)).to(rec.device)  # (B, P, C)
    else:
        start = torch.from_numpy(rec.genre_mean).to(rec.device)[g][:, None, :].expand(b, k, c)
        noise = torch.randn(b, k, c, generator=gen).to(rec.device)
        seq = start + noise * torch.from_numpy(rec.residual_std).to(rec.device)
    state = rec.model.warm_up(seq, g)
    window = seq[:, -k:]  # (B, k, C)
    out = torch.empty(b, frames, c, device=rec.device)
    lo = torch.from_numpy(rec.z_min).to(rec.device)  # (C,)
    hi = torch.from_numpy(rec.z_max).to(rec.device)
    for t in range(frames):
        mu, state = rec.model.step(window, g, state)  # (B, C)
        nxt = torch.minimum(torch.maximum(mu + torch.randn(b, c, generator=gen).to(rec.device) * sigma, lo), hi)
        out[:, t] = nxt
        window = torch.cat([window[:, 1:], nxt[:, None]], dim=1)
    return rec.unstandardise(out.cpu().numpy())


def frames_for(seconds: float, *, sr: int = SR, hop_length: int = HOP_LENGTH) -> int:
    """MFCC frames whose inversion (``(frames - 1) * hop_length`` samples) lasts at least ``seconds``."""
    return 1 + math.ceil(round(seconds * sr) / hop_length)


# ---------------------------------------------------------------------------------------------
# guidance


def guide(
    mfcc: np.ndarray,
    targets: Sequence[int],
    module: nn.Module,
    *,
    weight: float,
    frames: int,
    std: np.ndarray,
    steps: int = 30,
    lr: float = 0.05,
    device: str = "cpu",
) -> np.ndarray:
    """Steer raw MFCC ``(B, n_mfcc, T)`` towards class ``targets[b]`` of a frozen map classifier.

    ``module`` takes raw maps ``(B', n_mfcc, frames)`` and returns logits. Minimises
    ``mean(((x - x0) / std)^2) - weight * mean(log p(target | window))`` over windows of
    ``frames`` frames (half-overlapping; the sequence is tiled when shorter) with Adam.
    Returns the guided raw MFCC, same shape. ``weight == 0`` returns the input unchanged.
    """
    if weight < 0 or not math.isfinite(weight):
        raise ParameterError(f"guidance={weight} must be a finite number >= 0")
    if weight == 0 or steps <= 0:
        return np.asarray(mfcc, np.float32)
    x0 = torch.as_tensor(np.asarray(mfcc, np.float32), device=device)  # (B, C, T)
    s = torch.as_tensor(np.asarray(std, np.float32), device=device)[None, :, None]
    tgt = torch.as_tensor(list(targets), dtype=torch.long, device=device)
    was_training = module.training
    module.eval()
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    delta = torch.zeros_like(x0, requires_grad=True)  # in standardised units
    opt = torch.optim.Adam([delta], lr=lr)
    for _ in range(steps):
        x = x0 + delta * s
        w, owner = _windows(x, frames)  # (W, C, frames), (W,)
        logp = torch.log_softmax(module(w), dim=-1)[torch.arange(len(owner)), tgt[owner]]
        loss = (delta**2).mean() - weight * logp.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p, flag in flags:
        p.requires_grad_(flag)
    module.train(was_training)
    return (x0 + delta.detach() * s).cpu().numpy()


def _windows(x: torch.Tensor, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``x (B, C, T)`` -> windows ``(W, C, frames)`` and the sequence index of each ``(W,)``."""
    b, _, t = x.shape
    if t < frames:
        x = x.repeat(1, 1, -(-frames // t))[:, :, :frames]
        t = frames
    starts = list(range(0, t - frames + 1, max(frames // 2, 1)))
    if starts[-1] != t - frames:
        starts.append(t - frames)
    w = torch.stack([x[:, :, s : s + frames] for s in starts], dim=1)  # (B, S, C, frames)
    owner = torch.arange(b, device=x.device).repeat_interleave(len(starts))
    return w.reshape(b * len(starts), x.shape[1], frames), owner


def target_log_prob(mfcc: np.ndarray, targets: Sequence[int], module: nn.Module, *, frames: int) -> np.ndarray:
    """Mean log-probability of ``targets`` over the windows of each sequence: ``(B,)``."""
    with torch.no_grad():
        x = torch.as_tensor(np.asarray(mfcc, np.float32), device=next(module.parameters()).device)
        w, owner = _windows(x, frames)
        logp = torch.log_softmax(module.eval()(w), dim=-1)
        tgt = torch.as_tensor(list(targets), device=x.device)[owner]
        vals = logp[torch.arange(len(owner)), tgt]
        return torch.zeros(x.shape[0], dtype=vals.dtype).index_add_(0, owner.cpu(), vals.cpu()).numpy() / (
            np.bincount(owner.cpu().numpy(), minlength=x.shape[0]))


# ---------------------------------------------------------------------------------------------
# fidelity helpers


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussian fits of ``a (n, d)`` and ``b (m, d)``.

    Covariances are Ledoit-Wolf shrinkage estimates (well conditioned for n < d) plus a
    ridge of 1e-6 of their mean variance.
    """
    from sklearn.covariance import ledoit_wolf

    a, b = np.atleast_2d(np.asarray(a, np.float64)), np.atleast_2d(np.asarray(b, np.float64))
    if a.shape[1] != b.shape[1]:
        raise ParameterError(f"embeddings have {a.shape[1]} and {b.shape[1]} dimensions; they must match")
    if len(a) < 2 or len(b) < 2:
        raise ParameterError("the Fréchet distance needs at least 2 embeddings on each side")
    sa, sb = ledoit_wolf(a)[0], ledoit_wolf(b)[0]
    ridge = 1e-6 * max((np.trace(sa) + np.trace(sb)) / (2 * a.shape[1]), 1e-12)  # keeps sqrtm defined
    sa, sb = sa + ridge * np.eye(a.shape[1]), sb + ridge * np.eye(a.shape[1])
    tr_covmean = _trace_sqrt_product(sa, sb, np.concatenate([a - a.mean(0), b - b.mean(0)]))
    d = float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(sa) + np.trace(sb) - 2.0 * tr_covmean)
    return max(d, 0.0)


def _trace_sqrt_product(sa: np.ndarray, sb: np.ndarray, rows: np.ndarray) -> float:
    """``Tr sqrtm(sa @ sb)`` for shrinkage covariances ``sa = alpha I + low rank`` (likewise ``sb``).

    Both low-rank parts lie in the span ``Q`` of the centred embeddings ``rows (n + m, d)``, which
    ``sa @ sb`` maps into itself; on its orthogonal complement ``sa @ sb = alpha * beta``. So the
    trace is ``sum sqrt(eig(Q' sa sb Q)) + (d - r) sqrt(alpha beta)``: an ``r x r`` eigenproblem
    instead of scipy.linalg.sqrtm on ``d x d`` (seconds for d = 512; equal in the tests).
    """
    from scipy import linalg

    d = sa.shape[0]
    q = linalg.orth(rows.T)  # (d, r)
    r = q.shape[1]
    if r >= d:
        eig = np.linalg.eigvals(sa @ sb)
        return float(np.sum(np.sqrt(np.clip(eig.real, 0, None))))
    alpha = (np.trace(sa) - np.trace(q.T @ sa @ q)) / (d - r)
    beta = (np.trace(sb) - np.trace(q.T @ sb @ q)) / (d - r)
    eig = np.linalg.eigvals(q.T @ sa @ (sb @ q))
    return float(np.sum(np.sqrt(np.clip(eig.real, 0, None))) + (d - r) * np.sqrt(max(alpha * beta, 0.0)))


def shares(intended: Sequence[str], predicted: Sequence[str], genres: Sequence[str]) -> dict:
    """``{"overall", "n", "correct", "per_genre": {g: {"share", "n", "correct"}}}``; shares in [0, 1]."""
    per = {}
    for g in genres:
        idx = [i for i, t in enumerate(intended) if t == g]
        k = sum(predicted[i] == g for i in idx)
        per[g] = {"share": k / len(idx) if idx else None, "n": len(idx), "correct": int(k)}
    n = sum(v["n"] for v in per.values())
    correct = sum(v["correct"] for v in per.values())
    return {"overall": correct / n if n else None, "n": n, "correct": correct, "per_genre": per}


def mfcc_to_audio(mfcc: np.ndarray, *, sr: int = SR, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH,
                  device: str = "cpu") -> np.ndarray:
    """``(B, n_mfcc, F)`` -> ``(B, (F - 1) * hop_length)`` waveforms (:func:`genrelab.invert.mfcc_to_audio`)."""
    from genrelab.invert import mfcc_to_audio as invert

    return np.asarray(invert(np.asarray(mfcc, np.float32), sr=sr, n_fft=n_fft, hop_length=hop_length, device=device))


def _mfcc(y: np.ndarray) -> np.ndarray:
    """librosa-identical MFCC ``(20, F)`` of ``y`` (genrelab.features.mfcc)."""
    from genrelab.features import mfcc

    return mfcc(y, sr=SR, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mfcc=20)


def limit_peak(y: np.ndarray, *, peak: float = 0.99) -> np.ndarray:
    """Scale ``y (n,)`` down so that max |y| <= ``peak``; quieter audio keeps its level.

    The level an inversion gives is the one the MFCCs (c0) ask for, and the classifiers read
    it: normalising every clip to one peak cut the cnn's share on the recreated audio from
    0.69 to 0.38 (recreate-lstm, synthesised corpus), so clips are only kept from clipping.
    """
    m = float(np.max(np.abs(y))) if y.size else 0.0
    return (y * (peak / m)).astype(np.float32) if m > peak else y.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# recreate: generate -> (guide) -> invert -> wav -> reclassify -> fidelity.json

MODEL_SHORT: dict[str, str] = {"lstm": "recreate-lstm", "dense": "recreate-dense"}


def recreate(
    run_dir: Path,
    *,
    genres: Sequence[str] = DEFAULT_GENRES,
    per_genre: int = 4,
    seconds: float = 6.0,
    models: Sequence[str] = ("lstm", "dense"),
    guidance: float = 0.0,
    temperature: float = 0.5,
    prompt_frames: int = 16,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> dict:
    """Recreate ``per_genre`` clips of ``seconds`` per genre with each recreation model, write
    ``RUN/recreated/<model>/<genre>/<genre>.NN.wav`` (plus the inverted real clips under
    ``RUN/recreated/oracle/``), reclassify them with every trained classifier and write
    ``RUN/metrics/fidelity.json`` (schema in the module docstring). Returns that dict.

    ``models`` names ``lstm``/``dense``; when both are asked for, a missing one is skipped
    (recorded under ``"missing"``); none at all is a DatasetError. ``prompt_frames`` real
    frames of a held-out segment start each clip (0: start from the genre's mean frame).
    ``guidance`` > 0 steers the generated MFCCs with the run's trained ``cnn``.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DatasetError(f"run folder {run_dir} does not exist")
    genres, models = list(genres), list(models)
    for m in models:
        if m not in MODEL_SHORT:
            raise ParameterError(f"unknown recreation model {m!r}; choose from {sorted(MODEL_SHORT)} (or both)")
    if not genres:
        raise ParameterError("genres is empty; name at least one genre")
    if not isinstance(per_genre, int) or per_genre < 1:
        raise ParameterError(f"per_genre={per_genre!r} must be a positive integer")
    if not (math.isfinite(seconds) and 3.0 <= seconds <= 60):
        raise ParameterError(f"seconds={seconds} must be between 3 and 60 (the classifiers need 3 s windows)")
    if prompt_frames < 0:
        raise ParameterError(f"prompt_frames={prompt_frames} must be >= 0")
    recs: dict[str, Recreator] = {}
    missing = []
    for m in models:
        path = run_dir / "models" / f"{MODEL_SHORT[m]}.pt"
        if path.is_file():
            recs[m] = Recreator.load(run_dir, MODEL_SHORT[m], device=device)
        elif len(models) == 1:
            Recreator.load(run_dir, MODEL_SHORT[m])  # raises the one-sentence error
        else:
            missing.append(m)
    if not recs:
        raise DatasetError(f"no trained recreation model in {run_dir / 'models'}; train one with "
                           f"`genrelab train DATA --model recreate-lstm --out {run_dir}`")
    for m, rec in recs.items():
        bad = [g for g in genres if g not in rec.labels]
        if bad:
            raise ParameterError(f"unknown genre {bad[0]!r}; {rec.name} knows {rec.labels}")
    first = next(iter(recs.values()))
    if prompt_frames and prompt_frames <= first.config.context:
        raise ParameterError(f"prompt_frames={prompt_frames} must be 0 or more than the model's context "
                             f"({first.config.context} frames)")
    from genrelab.classify import Classifier, trained_classifiers

    classifier_names = [c for c in trained_classifiers(run_dir) if c not in RECREATION_MODELS]
    classifiers = {c: Classifier.load(run_dir, c, device=device) for c in classifier_names}
    guide_clf = None
    if guidance > 0:
        if "cnn" not in classifiers:
            raise DatasetError(f"--guidance needs a trained cnn in {run_dir / 'models'}; train it with "
                               f"`genrelab train DATA --model cnn --out {run_dir}`")
        guide_clf = classifiers["cnn"]
        bad = [g for g in genres if g not in guide_clf.labels]
        if bad:
            raise ParameterError(f"unknown genre {bad[0]!r} for guidance; the cnn knows {guide_clf.labels}")
    elif guidance < 0 or not math.isfinite(guidance):
        raise ParameterError(f"guidance={guidance} must be a finite number >= 0")

    heldout, heldout_info = _heldout_clips(run_dir, genres, first.val_tracks, classifier_names, n=max(per_genre, 2))
    prompts = _prompts(run_dir, first, genres, heldout, per_genre, prompt_frames) if prompt_frames else {}
    frames = frames_for(seconds)
    n_samples = int(round(seconds * SR))
    audio: dict[str, dict[str, list[np.ndarray]]] = {}
    files: list[dict] = []
    for m, rec in recs.items():
        audio[m] = {}
        for genre in track(genres, description=f"recreate {m}", enabled=progress):
            # a stable seed per (seed, model, genre): the same clips whichever other models/genres run
            s = int(np.random.SeedSequence([seed, list(MODEL_SHORT).index(m), *genre.encode()]).generate_state(1)[0])
            mf = generate(rec, [genre] * per_genre, frames=frames, prompts=prompts.get(genre), temperature=temperature,
                          seed=s)  # (per_genre, n_mfcc, frames)
            if guide_clf is not None:
                mf = guide(mf, [guide_clf.labels.index(genre)] * per_genre, guide_clf.module, weight=guidance,
                           frames=_classifier_frames(guide_clf), std=rec.std, device=device)
            ys = [limit_peak(y[:n_samples]) for y in mfcc_to_audio(mf, device=device)]
            audio[m][genre] = ys
            files += _save_clips(run_dir / "recreated" / m / genre, genre, ys, source=m)
    # real held-out clips, and the same through MFCC -> mfcc_to_audio (the oracle)
    audio["real"], audio["oracle"] = {}, {}
    for genre in track(genres, description="oracle clips", enabled=progress):
        loaded = [(p, _load_real(p, seconds)) for p in heldout[genre]]
        loaded = [(p, y) for p, y in loaded if y is not None]
        real = [y for _, y in loaded]
        audio["real"][genre] = real
        if real:
            n = min(len(y) for y in real)
            inv = mfcc_to_audio(np.stack([_mfcc(y[:n]) for y in real]), device=device)
            # centre framing loses < 1 hop at the end; pad so the oracle keeps the clip's length
            audio["oracle"][genre] = [limit_peak(np.pad(y, (0, max(n - len(y), 0)))) for y in inv]
        else:
            audio["oracle"][genre] = []
        files += _save_clips(run_dir / "recreated" / "oracle" / genre, genre, audio["oracle"][genre], source="oracle")
        for p, _ in loaded:
            files.append({"source": "real", "genre": genre, "file": str(p)})
    result = _fidelity(classifiers, audio, files, genres, progress=progress)
    result = {
        "genres": genres, "models": list(recs), "missing": missing, "per_genre": per_genre, "seconds": seconds,
        "temperature": temperature, "guidance": guidance, "prompt_frames": prompt_frames, "seed": seed, "sr": SR,
        "classifiers": classifier_names, "real_clips": heldout_info,
        "sources": {**{m: f"recreated by {MODEL_SHORT[m]}" for m in recs},
                    "oracle": "real held-out clips -> MFCC -> mfcc_to_audio",
                    "real": "real held-out clips, unaltered"},
        **result,
    }
    write_json(run_dir / "metrics" / "fidelity.json", result)
    return result


def _load_real(path: Path, seconds: float) -> np.ndarray | None:
    """The first ``seconds`` of a real clip, or None when it is unreadable or shorter than 3 s."""
    from genrelab.audio import load
    from genrelab.errors import AudioError

    try:
        return load(path, sr=SR, duration=seconds, min_duration=3.0)
    except AudioError:
        return None


def _classifier_frames(clf: Any) -> int:
    """Frames per window the map classifier was trained on (130 for 3 s maps)."""
    frames = getattr(clf, "frames", None)
    return int(frames) if frames else 130


def _save_clips(folder: Path, genre: str, ys: Sequence[np.ndarray], *, source: str) -> list[dict]:
    """Write ``<folder>/<genre>.NN.wav`` atomically; return the file records."""
    from genrelab.audio import save

    out = []
    for old in folder.glob(f"{genre}.[0-9][0-9].wav"):  # clips of an earlier, larger --per-genre
        if int(old.stem.rsplit(".", 1)[1]) >= len(ys):
            old.unlink()
    for i, y in enumerate(ys):
        path = folder / f"{genre}.{i:02d}.wav"
        save(path, y, sr=SR)
        out.append({"source": source, "genre": genre, "file": str(path)})
    return out


def _heldout_clips(run_dir: Path, genres: Sequence[str], val_tracks: Sequence[str], classifiers: Sequence[str], *,
                   n: int) -> tuple[dict[str, list[Path]], dict]:
    """Up to ``n`` real clip paths per genre, preferring tracks no model trained on.

    Preference: tracks on the test side of every classifier (``test_tracks`` in its metrics
    when recorded, else its checkpoint split rebuilt from the run's protocol and seed) and on
    the recreation validation side; then on the classifiers' test side; then on the
    recreation validation side; then any clip of the genre. Returns the paths and, per genre,
    how many are unseen by the classifiers / by the recreation models. Empty lists when the
    run has no ``features/clips.csv``.
    """
    import pandas as pd

    table = run_dir / "features" / "clips.csv"
    if not table.is_file():
        return {g: [] for g in genres}, {}
    clips = pd.read_csv(table)
    tests = [_classifier_test_tracks(run_dir, c) for c in classifiers]
    tests = [t for t in tests if t is not None]
    val = set(val_tracks)
    out, info = {}, {}
    for g in genres:
        rows = clips[clips["label"].astype(str) == g]
        tracks = list(rows["track"].astype(str))
        unseen_clf = {t for t in tracks if tests and all(t in ts for ts in tests)}
        order = sorted(tracks, key=lambda t: (t not in unseen_clf or t not in val, t not in unseen_clf, t not in val))
        paths = dict(zip(rows["track"].astype(str), rows["path"].astype(str)))
        picked = order[:n]
        out[g] = [_resolve(Path(paths[t]), run_dir) for t in picked]
        info[g] = {"n": len(picked), "tracks": picked,
                   "unseen_by_classifiers": sum(t in unseen_clf for t in picked) if tests else None,
                   "unseen_by_recreation": sum(t in val for t in picked)}
    return out, info


def _classifier_test_tracks(run_dir: Path, name: str) -> set[str] | None:
    """Track ids on the test side of classifier ``name``'s checkpoint split, or None if unknown."""
    from genrelab.data.gtzan import track_id_of
    from genrelab.data.splits import make_splits

    try:
        metrics = read_json(run_dir / "metrics" / f"{name}.json")
        if metrics.get("test_tracks"):
            return set(map(str, metrics["test_tracks"]))
        if metrics.get("kind") == "maps":
            from genrelab.features import load_maps

            ms = load_maps(run_dir / "features" / "maps.npz")
            tracks, labels = list(map(str, ms.track)), list(map(str, ms.label))
        else:
            import pandas as pd

            table = pd.read_csv(run_dir / "features" / "features.csv")
            tracks, labels = list(table["filename"].astype(str)), list(table["label"].astype(str))
        split = make_splits(metrics["protocol"], tracks, labels, seed=int(metrics.get("seed", 32)))[0]
        if len(split.test) != metrics.get("n_test", len(split.test)):
            return None  # not the split the classifier was trained on
        return {track_id_of(tracks[i]) for i in split.test}
    except Exception:  # noqa: BLE001 - any missing piece just means "not known"
        return None


def _resolve(path: Path, run_dir: Path) -> Path:
    """A clip path from clips.csv: as written, else relative to the run folder."""
    return path if path.is_absolute() or path.exists() else run_dir / path


def _prompts(run_dir: Path, rec: Recreator, genres, heldout, per_genre: int, prompt_frames: int) -> dict[str, np.ndarray]:
    """``{genre: (per_genre, n_mfcc, prompt_frames)}`` raw frames from held-out segment maps."""
    path = run_dir / "features" / "maps.npz"
    if not path.is_file():
        return {}
    from genrelab.features import load_maps

    ms = load_maps(path)
    out = {}
    for g in genres:
        tracks = {Path(p).name.rsplit(".", 1)[0] for p in heldout.get(g, [])} | {t for t in rec.val_tracks if t.split(".")[0] == g}
        idx = [i for i in range(len(ms.label)) if str(ms.label[i]) == g and str(ms.track[i]) in tracks]
        if not idx:
            idx = [i for i in range(len(ms.label)) if str(ms.label[i]) == g]
        if not idx or ms.maps.shape[2] < prompt_frames + EDGE:
            continue
        pick = [idx[(k * 7) % len(idx)] for k in range(per_genre)]
        out[g] = np.stack([ms.maps[i][:, EDGE : EDGE + prompt_frames] for i in pick]).astype(np.float32)
    return out


def _fidelity(classifiers: dict, audio: dict, files: list[dict], genres, *, progress: bool) -> dict:
    """Reclassify every clip with every classifier: shares, Fréchet distances, per-clip predictions."""
    fidelity, frechet = {}, {}
    predicted: dict[tuple[str, str, int], dict[str, str]] = {}
    for cname, clf in classifiers.items():
        fidelity[cname], frechet[cname] = {}, {}
        emb: dict[str, dict[str, np.ndarray]] = {}
        for source, by_genre in audio.items():
            intended, preds, emb[source] = [], [], {}
            for genre in track(genres, description=f"{cname}: {source}", enabled=progress):
                vecs = []
                for i, y in enumerate(by_genre.get(genre, [])):
                    p, vec = clf.predict_and_embed_audio(y, sr=SR)  # one feature extraction for both
                    label = str(clf.labels[int(np.argmax(p))])
                    intended.append(genre)
                    preds.append(label)
                    predicted.setdefault((source, genre, i), {})[cname] = label
                    vecs.append(np.asarray(vec, np.float64))
                emb[source][genre] = np.stack(vecs) if vecs else np.zeros((0, 0))
            fidelity[cname][source] = shares(intended, preds, genres)
        for source in audio:
            if source == "real":
                continue
            per = {}
            for g in genres:
                a, b = emb["real"][g], emb[source][g]
                per[g] = frechet_distance(a, b) if len(a) >= 2 and len(b) >= 2 else None
            vals = [v for v in per.values() if v is not None]
            frechet[cname][source] = {"per_genre": per, "mean": float(np.mean(vals)) if vals else None}
    counters: dict[tuple[str, str], int] = {}
    for f in files:
        key = (f["source"], f["genre"])
        i = counters.get(key, 0)
        counters[key] = i + 1
        f["predicted"] = predicted.get((f["source"], f["genre"], i), {})
    return {"fidelity": fidelity, "frechet": frechet,
            "frechet_covariance": "Ledoit-Wolf shrinkage covariance of the penultimate embeddings "
                                  "(few clips per genre); reference = the real held-out clips",
            "clips": files}
