"""The 57 features with PyTorch on any device (CUDA when given one), batched over frames.

Same recipe as :mod:`genrelab.features.engine` (librosa 0.11's defaults), written with
tensors: one float64 STFT, power/magnitude spectra, librosa's mel and chroma filter banks as
matrices, centroid/bandwidth/rolloff over all frames at once, framed RMS/ZCR, HPSS with
median filters over unfolded windows (scipy's ``reflect`` boundary) and ``torch.istft``.
The tuning estimate (piptrack's peak picking) and the tempo estimate run on the CPU from
small arrays, through the same functions as the numpy engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from genrelab.checks import torch_device
from genrelab.constants import TINY32
from genrelab.dsp import filters

if TYPE_CHECKING:
    import torch
from genrelab.features import _kernels as K
from genrelab.features.columns import feature_columns
from genrelab.features.engine import (
    check_signal,
    dct_basis32,
    fft_freqs,
    mel_basis_t,
)
from genrelab.features.params import check_params
from genrelab.features.tempo import tempo_from_log_mel


def _reflect_pad(x, h: int, dim: int):
    """scipy.ndimage's ``reflect`` padding (edge sample repeated) of ``h`` on both sides of ``dim``."""
    import torch

    n = x.shape[dim]
    idx = torch.arange(-h, n + h, device=x.device)
    period = 2 * n
    idx = torch.remainder(idx, period)
    idx = torch.where(idx >= n, period - 1 - idx, idx)
    return x.index_select(dim, idx)


def median_filter(x, *, size: int, dim: int):
    """Exact median over ``size`` samples along ``dim`` of a 2-D tensor, scipy's reflect boundary."""
    h = size // 2
    n = x.shape[dim]
    windows = _reflect_pad(x, h, dim).unfold(dim, size, 1).narrow(dim, 0, n)  # (..., n, size)
    return windows.sort(dim=-1).values[..., size // 2]


def _stats(out: dict[str, float], name: str, x) -> None:
    x = x.double()
    out[f"{name}_mean"] = float(x.mean())
    out[f"{name}_var"] = float(x.var(unbiased=False))


def extract_features_torch(
    y: np.ndarray,
    *,
    sr: int = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mfcc: int = 20,
    device: str = "cuda",
) -> dict[str, float]:
    """The 57 features of ``y [shape=(n,)]`` computed on ``device``; keys in CSV order."""
    import librosa
    import torch

    check_params(sr=sr, n_fft=n_fft, hop_length=hop_length, n_mfcc=n_mfcc)
    y = check_signal(y, n_fft)
    dev = torch_device(device)
    out: dict[str, float] = {}
    with torch.no_grad():
        yt = torch.from_numpy(y).to(dev)
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64, device=dev)
        D = torch.stft(
            yt.double(), n_fft, hop_length, window=window, center=True, pad_mode="constant", return_complex=True
        )  # (f, t) complex128
        mag = D.abs().float()  # (f, t)
        power = mag * mag
        f, t = mag.shape

        # tuning (piptrack peaks on the CPU) -> chroma
        p_np = np.ascontiguousarray(power.T.cpu().numpy())
        freqs_np = fft_freqs(sr, n_fft)
        band = np.flatnonzero((freqs_np >= 150.0) & (freqs_np < min(4000.0, sr / 2)))
        tuning = 0.0
        if band.size:
            pitches, pmags = K.pitch_peaks(
                p_np, max(int(band[0]), 1), min(int(band[-1]) + 1, f - 1), 0.1, float(sr) / n_fft
            )
            if pitches.size:
                sel = pitches[pmags.astype(np.float32) >= np.median(pmags.astype(np.float32))]
                if sel.size:
                    tuning = float(librosa.pitch_tuning(sel, resolution=0.01, bins_per_octave=12))
        chroma_fb = torch.from_numpy(filters.chroma_basis(sr, n_fft, round(tuning, 2)).copy()).to(dev)  # (12, f)
        chroma = chroma_fb @ power  # (12, t)
        peak = chroma.abs().amax(dim=0, keepdim=True)
        peak = torch.where(peak < TINY32, torch.ones_like(peak), peak)
        _stats(out, "chroma_stft", chroma / peak)

        _rms_zcr(out, yt, n_fft=n_fft, hop_length=hop_length)

        # centroid, bandwidth, rolloff over all frames at once
        freq = torch.from_numpy(freqs_np).to(dev)[:, None]  # (f, 1) float64
        m64 = mag.double()
        total = m64.sum(dim=0, keepdim=True)
        norm = m64 / torch.where(total < TINY32, torch.ones_like(total), total)
        centroid = (freq * norm).sum(dim=0, keepdim=True)
        _stats(out, "spectral_centroid", centroid)
        _stats(out, "spectral_bandwidth", torch.sqrt((norm * (freq - centroid) ** 2).sum(dim=0)))
        cum = torch.cumsum(m64, dim=0)
        first = (cum < 0.85 * cum[-1:]).sum(dim=0).clamp(max=f - 1)
        _stats(out, "rolloff", freq[first, 0])

        _hpss_stats(out, D, mag, window, n_fft=n_fft, hop_length=hop_length, length=y.size)

        # mel -> dB -> tempo (CPU, from the small log-mel array) and MFCC
        mel_fb = torch.from_numpy(mel_basis_t(sr, n_fft).T.copy()).to(dev)  # (128, f)
        mel = mel_fb @ power  # (128, t)
        log_mel = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
        log_mel = torch.maximum(log_mel, log_mel.max() - 80.0)
        out["tempo"] = tempo_from_log_mel(
            np.ascontiguousarray(log_mel.T.cpu().numpy()), sr=sr, n_fft=n_fft, hop_length=hop_length
        )
        dct = torch.from_numpy(dct_basis32(log_mel.shape[0], n_mfcc).T.copy()).to(dev)  # (n_mfcc, 128)
        m = dct @ log_mel  # (n_mfcc, t)
        for k in range(n_mfcc):
            _stats(out, f"mfcc{k + 1}", m[k])
    return {c: out[c] for c in feature_columns(n_mfcc)}


def _rms_zcr(out: dict[str, float], yt: "torch.Tensor", *, n_fft: int, hop_length: int) -> None:
    """RMS (zero padding) and zero-crossing rate (edge padding) stats of ``yt (n,)``, framed."""
    import torch

    half = n_fft // 2
    frames = torch.nn.functional.pad(yt, (half, half)).unfold(0, n_fft, hop_length)  # (t, n_fft)
    _stats(out, "rms", torch.sqrt((frames.double() ** 2).mean(dim=1)).float())
    ye = torch.nn.functional.pad(yt[None, None], (half, half), mode="replicate")[0, 0]
    ye = torch.where(ye.abs() <= 1e-10, torch.zeros_like(ye), ye)
    neg = ye < 0
    cross = torch.zeros_like(ye)
    cross[1:] = (neg[1:] != neg[:-1]).float()
    zframes = cross.unfold(0, n_fft, hop_length)[:, 1:]  # the first sample of a frame never counts
    _stats(out, "zero_crossing_rate", zframes.double().sum(dim=1) / n_fft)


def _hpss_stats(
    out: dict[str, float],
    D: "torch.Tensor",
    mag: "torch.Tensor",
    window: "torch.Tensor",
    *,
    n_fft: int,
    hop_length: int,
    length: int,
) -> None:
    """Harmonic / percussive waveform stats from ``D (f, t)`` complex and ``mag (f, t)`` by median-filter HPSS."""
    import torch

    harm = median_filter(mag, size=31, dim=1)  # along time
    perc = median_filter(mag, size=31, dim=0)  # along frequency
    Z = torch.maximum(harm, perc)
    bad = Z < TINY32
    Z = torch.where(bad, torch.ones_like(Z), Z)
    mh, mp = (harm / Z) ** 2, (perc / Z) ** 2
    den = mh + mp
    mh = torch.where(bad, torch.zeros_like(mh), mh / den)
    mp = torch.where(bad, torch.zeros_like(mp), mp / den)
    w32 = window.float()
    Dc = D.to(torch.complex64)
    for name, mask in (("harmony", mh), ("perceptr", mp)):
        wave = torch.istft(Dc * mask, n_fft, hop_length, window=w32, center=True, length=length)
        _stats(out, name, wave)
