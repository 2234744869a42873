"""Recreation lab: do the generators keep the music moving? (issue #12)

One script, one CPU thread: (a) synthesise a demo-like corpus in memory (render_clip: 10
genres x 20 clips x 15 s; cached as int16 under --cache), cut into 3 s segments, split by track
70/30 per genre (fixed seed); (b) train each generator on the training tracks only; (c)
generate 4 clips x 6 s per genre (all ten genres); (d) turn them into audio (log-mel -> NNLS ->
Griffin-Lim for the diffusion model, mfcc_to_audio for the MFCC models); (e) measure motion
(frame change, beat-band share, onset autocorrelation peak) and within-genre diversity as
generated/real ratios against real held-out 6 s clips, and the genre share a logistic
regression on per-clip MFCC mean/std (trained on the training tracks only) gives the generated
clips, beside its share on the real held-out clips. Writes bench/results/recreation_lab.md.

    PYTHONPATH=src python bench/recreation_lab.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)

from genrelab import GENRES, motion  # noqa: E402
from genrelab.models.recreate import RecreateConfig, RecreationModel  # noqa: E402
from genrelab.features import log_mel  # noqa: E402
from genrelab.models.recreate_diffusion import DiffusionConfig, MelDiffusion, fit_projection  # noqa: E402

SR, N_FFT, HOP = 22050, 2048, 512
SEG = 3 * SR  # samples per 3 s segment (130 frames)
CLIP = 6 * SR  # samples per real 6 s clip
GEN_FRAMES = 260  # frames per generated 6 s clip
FOUR = ("classical", "pop", "metal", "blues")


# ------------------------------------------------------------------------------------- data


def corpus(seed: int, clips: int, duration: float, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """Audio ``(G * clips, n)`` float32 and genre ids ``(G * clips,)`` (track i = row i)."""
    path = cache / f"corpus_s{seed}_c{clips}_d{duration:g}.npz"
    if path.is_file():
        z = np.load(path)
        return z["audio"].astype(np.float32) / 32767.0, z["genre"]
    from genrelab.data.synth import render_clip

    audio = np.stack([render_clip(g, index=i, duration=duration, seed=seed) for g in GENRES for i in range(clips)])
    genre = np.repeat(np.arange(len(GENRES)), clips)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, audio=np.round(audio * 32767).astype(np.int16), genre=genre)
    return audio, genre


def split_tracks(genre: np.ndarray, seed: int, share: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Track indices ``(train, test)``, ``round(share * n)`` of each genre's tracks for training."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for g in np.unique(genre):
        idx = rng.permutation(np.flatnonzero(genre == g))
        k = int(round(share * len(idx)))
        train += idx[:k].tolist()
        test += idx[k:].tolist()
    return np.sort(train), np.sort(test)


def windows(audio: np.ndarray, tracks: np.ndarray, genre: np.ndarray, length: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``tracks`` into windows of ``length`` samples every ``hop``: ``(W, length)``, genre ids ``(W,)``."""
    starts = range(0, audio.shape[1] - length + 1, hop)
    return (np.stack([audio[t, s : s + length] for t in tracks for s in starts]),
            np.array([genre[t] for t in tracks for _ in starts]))


def mfccs(audio: np.ndarray) -> np.ndarray:
    """``(n, samples)`` -> MFCC maps ``(n, 20, frames)`` (librosa-identical, genrelab.features.mfcc)."""
    from genrelab.features import mfcc

    return np.stack([mfcc(y, sr=SR) for y in audio])


# ----------------------------------------------------------------------------- generators


def train_diffusion(mel: np.ndarray, y: np.ndarray, cfg: DiffusionConfig, *, steps: int, batch: int, lr: float,
                    crop: int, seed: int, components: int) -> tuple[MelDiffusion, dict]:
    """Train on log-mel segments ``mel (N, 128, 130)`` (projected: ``cfg.n_mels`` = ``components``);
    returns the EMA model and the statistics generation needs."""
    proj = fit_projection(mel, components)
    x = torch.from_numpy(proj.encode(mel))  # (N, k, F)
    g = torch.from_numpy(y).long()
    torch.manual_seed(seed)
    model = MelDiffusion(cfg)
    ema = MelDiffusion(cfg)
    ema.load_state_dict(model.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps)))
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for step in range(steps):
        idx = torch.randint(len(x), (batch,), generator=gen)
        off = int(torch.randint(x.shape[-1] - crop + 1, (1,), generator=gen))
        loss = model.loss(x[idx, :, off : off + crop], g[idx], generator=gen)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        decay = min(0.995, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - decay)
        losses.append(loss.item())
    return ema.eval(), {"projection": proj, "mel_min": float(mel.min()), "mel_max": float(mel.max()),
                        "loss_first": float(np.mean(losses[:50])), "loss_last": float(np.mean(losses[-50:]))}


def mel_to_audio(db: np.ndarray) -> np.ndarray:
    """Log-mel dB ``(B, 128, T)`` -> audio ``(B, (T - 1) * 512)``: power, NNLS magnitude, fast Griffin-Lim."""
    import librosa

    from genrelab.invert import griffinlim, mel_to_magnitude

    mel = torch.pow(10.0, 0.1 * torch.from_numpy(np.asarray(db, np.float64)))  # (B, M, T) power
    mag = mel_to_magnitude(mel, sr=SR, n_fft=N_FFT, max_iter=300)  # (B, 1025, T); 300: noisy maps took 2000
    peak = mag.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-30)
    basis = torch.from_numpy(librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=db.shape[1]).astype(np.float64))
    y = griffinlim((mag / peak).float(), n_iter=32, hop_length=HOP, n_fft=N_FFT, length=(db.shape[-1] - 1) * HOP,
                   seed=0, mel_basis=basis, mel=mel / peak**2, refine=8)
    return (y.double() * peak[:, 0]).float().numpy()


def train_nextframe(maps: np.ndarray, y: np.ndarray, cfg: RecreateConfig, *, epochs: int, lr: float, batch: int,
                    seed: int) -> dict:
    """The study's recipe (standardised frames, 2 edge frames dropped, teacher forcing, Adam) on
    ``maps (N, 20, 130)``, fixed epochs; returns what generation needs."""
    raw = maps[:, :, 2:-2]
    mean, std = raw.mean(axis=(0, 2)), raw.std(axis=(0, 2)) + 1e-6
    z = torch.from_numpy(((raw - mean[None, :, None]) / std[None, :, None]).transpose(0, 2, 1).copy()).float()
    g = torch.from_numpy(y).long()
    torch.manual_seed(seed)
    model = RecreationModel(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(z), generator=gen)
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            loss = model.loss(z[idx], g[idx], generator=gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        resid = (model(z, g) - z[:, cfg.context :]).pow(2).mean(dim=(0, 1)).sqrt().numpy()
    genre_mean = np.stack([z[g == k].mean(dim=(0, 1)).numpy() for k in range(cfg.n_genres)])
    return {"model": model, "mean": mean.astype(np.float32), "std": std.astype(np.float32), "residual_std": resid,
            "genre_mean": genre_mean, "z_min": z.amin(dim=(0, 1)).numpy(), "z_max": z.amax(dim=(0, 1)).numpy()}


@torch.no_grad()
def generate_nextframe(fit: dict, genres: np.ndarray, *, frames: int, seed: int, temperature: float) -> np.ndarray:
    """Free-running generation as :func:`genrelab.recreation.generate` (genre-mean start, clamp to
    the training range); the ``"mse"`` head adds ``temperature * residual_std`` noise, ``"mdn"``
    samples its mixture (:meth:`RecreationModel.sample`). Returns raw MFCC ``(B, 20, frames)``."""
    model: RecreationModel = fit["model"]
    k, c = model.config.context, model.config.n_mfcc
    gen = torch.Generator().manual_seed(seed)
    g = torch.from_numpy(genres).long()
    rs = torch.from_numpy(fit["residual_std"]).float()
    lo, hi = torch.from_numpy(fit["z_min"]), torch.from_numpy(fit["z_max"])
    window = torch.from_numpy(fit["genre_mean"])[g][:, None, :] + torch.randn(len(g), k, c, generator=gen) * rs
    state = model.warm_up(window, g)
    out = torch.empty(len(g), frames, c)
    for t in range(frames):
        nxt, state = model.sample(window, g, state, temperature=temperature, generator=gen)
        if model.config.head == "mse":
            nxt = nxt + torch.randn(len(g), c, generator=gen) * rs * temperature
        nxt = torch.minimum(torch.maximum(nxt, lo), hi)
        out[:, t] = nxt
        window = torch.cat([window[:, 1:], nxt[:, None]], dim=1)
    return (out.numpy() * fit["std"] + fit["mean"]).transpose(0, 2, 1).astype(np.float32)


# ------------------------------------------------------------------------------ measures


def fit_judge(audio: np.ndarray, y: np.ndarray):
    """Logistic regression on per-clip MFCC mean/std of 6 s training windows ``audio (n, samples)``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, C=1.0)).fit(
        motion.clip_summary(mfccs(audio)), y)


def measure(audio: np.ndarray, y: np.ndarray, judge) -> dict:
    """Per-clip measures of ``audio (n, samples)`` with genre ids ``y (n,)``."""
    maps = mfccs(audio)
    summ = motion.clip_summary(maps)
    onset = motion.audio_motion(audio, SR)
    return {"y": y, "frame_change": motion.frame_change(maps), "beat_share": onset["beat_share"],
            "autocorr": onset["autocorr_peak"], "summary": summ, "pred": judge.predict(summ)}


def compare(gen: dict, real: dict, genres: list[int], scale: np.ndarray) -> dict:
    """Generated/real ratios over ``genres`` (ids) and the judge's genre shares."""
    gm, rm = np.isin(gen["y"], genres), np.isin(real["y"], genres)
    row = {}
    for key in ("frame_change", "beat_share", "autocorr"):
        row[key] = float(np.nanmean(gen[key][gm]) / np.nanmean(real[key][rm]))
    dg = motion.grouped_diversity(gen["summary"][gm], gen["y"][gm].astype(str), scale=scale)
    dr = motion.grouped_diversity(real["summary"][rm], real["y"][rm].astype(str), scale=scale)
    row["diversity"] = float(np.mean([dg[k] / dr[k] for k in dg if dr.get(k, 0) > 0]))
    row["share"] = float(np.mean(gen["pred"][gm] == gen["y"][gm]))
    row["share_real"] = float(np.mean(real["pred"][rm] == real["y"][rm]))
    return row


# ---------------------------------------------------------------------------------- main


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0, help="corpus, split, training and sampling seed")
    p.add_argument("--clips", type=int, default=20, help="clips per genre")
    p.add_argument("--duration", type=float, default=15.0, help="seconds per clip")
    p.add_argument("--per-genre", type=int, default=4, help="generated clips per genre")
    p.add_argument("--diff-steps", type=int, default=700, help="diffusion training steps (batch 32)")
    p.add_argument("--diff-channels", default="96,128,192")
    p.add_argument("--sample-steps", type=int, default=40, help="DDIM steps")
    p.add_argument("--guidance", default="1,2", help="classifier-free guidance weights to sample with")
    p.add_argument("--epochs", type=int, default=20, help="next-frame models: epochs (study default)")
    p.add_argument("--lr", type=float, default=1e-4, help="next-frame models: Adam lr (study default)")
    p.add_argument("--nextframe", default="lstm-mse,dense-mse,lstm-mdn,dense-mdn",
                   help="next-frame variants <lstm|dense>-<mse|mdn>[-noise] (empty: none)")
    p.add_argument("--mdn-temperature", type=float, default=1.0)
    p.add_argument("--cache", type=Path, default=Path("/tmp/genrelab_lab"))
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "recreation_lab.md")
    p.add_argument("--components", type=int, default=32, help="diffusion: PCA components of the bands (128 = all)")
    p.add_argument("--crop", type=int, default=128, help="diffusion training crop (frames of the 130)")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM eta (0 = deterministic)")
    p.add_argument("--clip", type=float, default=0.0, help="DDIM: bound on the predicted clean map (0 = off)")
    p.add_argument("--no-oracles", action="store_true", help="skip the oracle and prototype rows")
    p.add_argument("--quick", action="store_true", help="tiny settings: a smoke test of the script")
    a = p.parse_args(argv)
    if a.quick:
        a.clips, a.duration, a.diff_steps, a.epochs, a.sample_steps = 4, 6.0, 20, 1, 5
        a.diff_channels, a.guidance, a.per_genre = "32,48", "1", 2
    return a


def prepare(a: argparse.Namespace) -> dict:
    """Corpus, split, training segments (log-mel and MFCC), real held-out clips, judge (cached)."""
    import pickle

    path = a.cache / f"prepared_s{a.seed}_c{a.clips}_d{a.duration:g}.pkl"
    if path.is_file():
        with open(path, "rb") as f:
            return pickle.load(f)
    d = _prepare(a)
    with open(path, "wb") as f:
        pickle.dump(d, f)
    return d


def _prepare(a: argparse.Namespace) -> dict:
    t0 = time.time()
    audio, genre = corpus(a.seed, a.clips, a.duration, a.cache)
    train, test = split_tracks(genre, a.seed)
    seg, seg_y = windows(audio, train, genre, SEG, SEG)  # (N, 66150): 3 s training segments
    mel = np.stack([log_mel(s, sr=SR) for s in seg])  # (N, 128, 130)
    mf = mfccs(seg)  # (N, 20, 130)
    real_audio, real_y = windows(audio, test, genre, CLIP, CLIP)  # 6 s held-out clips
    judge_audio, judge_y = windows(audio, train, genre, CLIP, SEG)  # 6 s training windows, 3 s apart
    judge = fit_judge(judge_audio, judge_y)
    real = measure(real_audio, real_y, judge)
    return {"mel": mel, "mfcc": mf, "y": seg_y, "real": real, "real_audio": real_audio, "judge": judge,
            "n_train_tracks": len(train), "n_test_tracks": len(test), "seconds": time.time() - t0,
            "scale": real["summary"].std(axis=0) + 1e-6}


def run_all(a: argparse.Namespace, d: dict) -> list[dict]:
    """Train, generate, invert and measure every generator (and the oracle/prototype rows)."""
    rows = []
    ids = np.repeat(np.arange(len(GENRES)), a.per_genre)

    def add(name: str, audio: np.ndarray, y: np.ndarray, **info) -> None:
        rows.append({"name": name, "m": measure(audio, y, d["judge"]), **info})
        print(f"  {name}: {info}", flush=True)

    if a.no_oracles:
        return _generators(a, d, rows, ids, add)
    t = time.time()
    add("oracle: real -> log-mel -> audio", mel_to_audio(np.stack([log_mel(s) for s in d["real_audio"]])), d["real"]["y"],
        gen_s=time.time() - t)
    t = time.time()
    add("oracle: real -> MFCC -> audio", _mfcc_audio(mfccs(d["real_audio"])), d["real"]["y"], gen_s=time.time() - t)
    proto = np.stack([d["mfcc"][d["y"] == k].mean(axis=(0, 2)) for k in range(len(GENRES))])[ids][:, :, None]
    add("prototype: genre-mean MFCC frame", _mfcc_audio(np.repeat(proto, GEN_FRAMES, axis=2)), ids)
    return _generators(a, d, rows, ids, add)


def _generators(a: argparse.Namespace, d: dict, rows: list[dict], ids: np.ndarray, add) -> list[dict]:
    cfg = DiffusionConfig(n_mels=a.components, n_genres=len(GENRES), channels=tuple(int(c) for c in a.diff_channels.split(",")))
    t = time.time()
    model, stats = train_diffusion(d["mel"], d["y"], cfg, steps=a.diff_steps, batch=32, lr=2e-3, crop=a.crop, seed=a.seed,
                                   components=a.components)
    train_s = time.time() - t
    print(f"diffusion trained in {train_s:.0f} s, loss {stats['loss_first']:.3f} -> {stats['loss_last']:.3f}", flush=True)
    for w in (float(v) for v in a.guidance.split(",")):
        t = time.time()
        z = model.generate(torch.from_numpy(ids), frames=GEN_FRAMES, steps=a.sample_steps, guidance=w, clip=a.clip or None, eta=a.eta,
                           generator=torch.Generator().manual_seed(a.seed)).numpy()
        gen_s = time.time() - t
        db = np.clip(stats["projection"].decode(z), stats["mel_min"], stats["mel_max"])
        t = time.time()
        add(f"diffusion (w={w:g}, eta={a.eta:g})", mel_to_audio(db), ids, train_s=train_s, gen_s=gen_s, invert_s=time.time() - t)
    for spec in filter(None, a.nextframe.split(",")):
        parts = spec.split("-")
        cfg_nf = RecreateConfig(n_genres=len(GENRES), lstm=parts[0] == "lstm", head=parts[1],
                                input_noise=0.1 if "noise" in parts else 0.0)
        t = time.time()
        fit = train_nextframe(d["mfcc"], d["y"], cfg_nf, epochs=a.epochs, lr=a.lr, batch=32, seed=a.seed)
        train_s = time.time() - t
        t = time.time()
        temp = 0.5 if cfg_nf.head == "mse" else a.mdn_temperature
        maps = generate_nextframe(fit, ids, frames=GEN_FRAMES, seed=a.seed, temperature=temp)
        gen_s = time.time() - t
        t = time.time()
        add(f"recreate-{spec} (T={temp:g})", _mfcc_audio(maps), ids, train_s=train_s, gen_s=gen_s, invert_s=time.time() - t)
    return rows


def _mfcc_audio(maps: np.ndarray) -> np.ndarray:
    from genrelab.invert import mfcc_to_audio
    from genrelab.recreation import limit_peak

    return np.stack([limit_peak(y) for y in mfcc_to_audio(np.asarray(maps, np.float32))])


def table(rows: list[dict], d: dict, genres: list[str]) -> list[str]:
    ids = [GENRES.index(g) for g in genres]
    lines = ["| generator | frame change | beat-band share | autocorr peak | diversity | genre share (real) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        c = compare(r["m"], d["real"], ids, d["scale"])
        lines.append(f"| {r['name']} | {c['frame_change']:.2f} | {c['beat_share']:.2f} | {c['autocorr']:.2f} | "
                     f"{c['diversity']:.2f} | {c['share']:.2f} ({c['share_real']:.2f}) |")
    return lines


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    t0 = time.time()
    d = prepare(a)
    print(f"data ready in {d['seconds']:.0f} s: {len(d['y'])} training segments, {len(d['real']['y'])} real clips", flush=True)
    rows = run_all(a, d)
    real = d["real"]
    out = ["# Recreation lab (issue #12)", "",
           f"`PYTHONPATH=src python bench/recreation_lab.py {' '.join(argv if argv is not None else sys.argv[1:])}`"
           f" - 1 CPU thread, {time.time() - t0:.0f} s in all.", "",
           f"Corpus: render_clip, {len(GENRES)} genres x {a.clips} clips x {a.duration:g} s, seed {a.seed}; split by "
           f"track 70/30 per genre ({d['n_train_tracks']} / {d['n_test_tracks']} tracks); {len(d['y'])} training "
           f"segments of 3 s; real: {len(real['y'])} held-out clips of 6 s (two per test track). Generated: "
           f"{a.per_genre} clips x 6 s ({GEN_FRAMES} frames) per genre, seed {a.seed}.", "",
           "Values are generated/real ratios (1 = like the real held-out clips), measured on audio (MFCCs and "
           "onset envelopes recomputed from the wav) for every row. Real means: frame change "
           f"{real['frame_change'].mean():.2f} dB, beat-band share {real['beat_share'].mean():.3f}, autocorr peak "
           f"{real['autocorr'].mean():.3f}. Diversity: mean pairwise distance of per-clip MFCC mean/std within a "
           "genre (columns scaled by the real clips' std), generated over real, averaged over genres. Genre share: "
           "logistic regression on MFCC mean/std of 6 s training windows; in brackets its share on the real "
           "held-out clips of the same genres.", ""]
    for title, genres in (("All ten genres", list(GENRES)), ("classical, pop, metal, blues", list(FOUR))):
        out += [f"## {title}", ""] + table(rows, d, genres) + [""]
    out += ["## Times (s)", "", "| generator | train | generate | invert |", "|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['name']} | {r.get('train_s', float('nan')):.1f} | {r.get('gen_s', float('nan')):.1f} | "
                   f"{r.get('invert_s', float('nan')):.1f} |")
    out += ["", "Settings: " + ", ".join(f"{k}={v}" for k, v in vars(a).items() if k not in ("cache", "out")), ""]
    text = "\n".join(out)
    print(text)
    if not a.quick:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
