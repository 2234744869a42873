"""MFCC -> mel -> magnitude -> audio: inverse DCT, dB -> power, NNLS mel inversion, then
:func:`genrelab.invert.griffin_lim.griffinlim`. Steps and defaults follow
``librosa.feature.inverse`` (see the package docstring)."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import torch

from genrelab.checks import check_positive_int, torch_device
from genrelab.dsp import filters
from genrelab.errors import ParameterError
from genrelab.invert.griffin_lim import griffinlim
from genrelab.threads import one_torch_thread

__all__ = ["mfcc_to_audio", "mel_to_audio", "mfcc_to_mel", "mel_to_magnitude", "nnls"]

_TOP_DB = 80.0  # librosa.feature.mfcc's power_to_db(top_db=80)


def mfcc_to_audio(
    mfcc: np.ndarray,
    *,
    sr: int = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
    n_iter: int = 32,
    momentum: float = 0.99,
    device: str = "cpu",
    seed: int = 0,
    refine: int = 8,
) -> np.ndarray:
    """Invert MFCCs to a waveform.

    ``mfcc [shape=(n_mfcc, frames)]`` -> ``y [shape=((frames - 1) * hop_length,)]``, or
    ``[shape=(batch, n_mfcc, frames)]`` -> ``[shape=(batch, (frames - 1) * hop_length)]``;
    float32. Each clip of a batch gives the same result as on its own.

    Griffin-Lim starts from a random phase drawn from ``seed`` (the same draw for every clip),
    like librosa's default ``init="random"``, so a given seed always gives the same audio.
    ``refine=k`` corrects the Griffin-Lim magnitude target towards the MFCCs' mel power every
    k-th iteration (see :func:`griffinlim`); ``refine=0`` is librosa's algorithm unchanged.
    Torch's thread count is left as the caller set it.
    """
    x = _check_array(mfcc, "mfcc", "n_mfcc")
    _check_inversion(
        sr=sr,
        n_fft=n_fft,
        hop_length=hop_length,
        n_mels=n_mels,
        n_iter=n_iter,
        momentum=momentum,
        refine=refine,
        seed=seed,
    )
    if x.shape[-2] > n_mels:
        raise ParameterError(f"mfcc has {x.shape[-2]} coefficients; n_mels={n_mels} must be at least that")
    dev = torch_device(device)
    single = x.ndim == 2
    batch = x[None] if single else x  # (B, n_mfcc, T)
    mel = mfcc_to_mel(torch.from_numpy(batch).to(dev), n_mels=n_mels)  # (B, n_mels, T) float64
    y = _mel_power_to_audio(
        mel,
        sr=sr,
        n_fft=n_fft,
        hop_length=hop_length,
        n_iter=n_iter,
        momentum=momentum,
        seed=seed,
        refine=refine,
        what="mfcc values",
    )
    return y[0] if single else y


def mel_to_audio(
    mel: np.ndarray,
    *,
    sr: int = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_iter: int = 32,
    momentum: float = 0.99,
    device: str = "cpu",
    seed: int = 0,
    refine: int = 8,
    max_iter: int = 2000,
) -> np.ndarray:
    """Invert a mel power spectrogram to a waveform, as :func:`mfcc_to_audio` does after its DCT step.

    ``mel [shape=(n_mels, frames)]`` (power, Slaney bank of ``librosa.filters.mel``, e.g.
    ``10 ** (log_mel_db / 10)``) -> ``y [shape=((frames - 1) * hop_length,)]``; or a batch
    ``(batch, n_mels, frames)`` -> ``(batch, samples)``; float32. The mel resolution keeps the
    harmonic detail that 20 MFCCs discard. ``max_iter`` caps the NNLS mel inversion (noisy,
    generated spectrograms converge slowly; 300 is close enough for them).
    """
    x = _check_array(mel, "mel", "n_mels")
    _check_inversion(
        sr=sr,
        n_fft=n_fft,
        hop_length=hop_length,
        n_mels=x.shape[-2],
        n_iter=n_iter,
        momentum=momentum,
        refine=refine,
        seed=seed,
    )
    if (x < 0).any():
        raise ParameterError("mel is a power spectrogram and must be >= 0; pass 10 ** (dB / 10) for dB values")
    dev = torch_device(device)
    single = x.ndim == 2
    batch = torch.from_numpy(x[None] if single else x).to(dev)  # (B, n_mels, T) float64
    y = _mel_power_to_audio(
        batch,
        sr=sr,
        n_fft=n_fft,
        hop_length=hop_length,
        n_iter=n_iter,
        momentum=momentum,
        seed=seed,
        refine=refine,
        what="mel values",
        max_iter=max_iter,
    )
    return y[0] if single else y


def _mel_power_to_audio(
    mel: torch.Tensor,
    *,
    sr: int,
    n_fft: int,
    hop_length: int,
    n_iter: int,
    momentum: float,
    seed: int,
    refine: int,
    what: str,
    max_iter: int = 2000,
) -> np.ndarray:
    """Mel power ``(B, n_mels, T)`` float64 -> ``(B, (T - 1) * hop_length)`` float32: NNLS, Griffin-Lim."""
    frames, n_mels = mel.shape[-1], mel.shape[-2]
    with one_torch_thread(mel.device.type == "cpu"):  # small ops: one thread is never slower (and is under load)
        S, peak = _unit_peak_magnitude(mel, sr=sr, n_fft=n_fft, max_iter=max_iter)  # (B, F, T) f32, (B, 1, 1)
        if not bool(torch.isfinite(peak).all()) or peak.max() > torch.finfo(torch.float32).max:
            raise ParameterError(f"{what} imply a mel power beyond float32 range; check their scale (dB)")
    basis = torch.tensor(filters.mel_basis(sr, n_fft, n_mels, dtype=np.float64)).to(mel.device)  # (n_mels, F)
    y = griffinlim(
        S,
        n_iter=n_iter,
        hop_length=hop_length,
        n_fft=n_fft,
        momentum=momentum,
        length=(frames - 1) * hop_length,
        seed=seed,
        mel_basis=basis,
        mel=(mel / peak**2),
        refine=refine,
    )  # (B, n)
    return (y.to(torch.float64) * peak[:, 0]).to(torch.float32).cpu().numpy()


def _unit_peak_magnitude(mel: torch.Tensor, *, sr: int, n_fft: int, max_iter: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The STFT magnitude of mel power ``(B, n_mels, T)`` at each clip's unit peak (Griffin-Lim is
    scale-equivariant) -> ``S [shape=(B, 1 + n_fft // 2, T)]`` float32 and ``peak (B, 1, 1)`` float64,
    ``inf`` where the magnitude is not finite. On the CPU one compiled pass per clip makes ``S`` as a
    frames-first array (what Griffin-Lim works on) with the bits of ``(mag / peak).to(float32)``."""
    if mel.device.type != "cpu":
        mag = mel_to_magnitude(mel, sr=sr, n_fft=n_fft, max_iter=max_iter)  # (B, F, T) float64
        peak = mag.amax(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)  # (B, 1, 1)
        peak = torch.where(torch.isfinite(mag).all(dim=-1).all(dim=-1)[:, None, None], peak, torch.inf)
        return (mag / peak).to(torch.float32), peak
    from genrelab.invert import kernels as kern

    power, scale = _mel_to_power(mel, sr=sr, n_fft=n_fft, tol=1e-6, max_iter=max_iter)  # (B, F, T), (B, 1, T)
    b_n, n_bins, frames = power.shape
    frames_first = torch.empty((b_n, frames, n_bins), dtype=torch.float32)  # (B, T, F)
    peaks = [kern.unit_peak_frames(power[b].numpy(), scale[b, 0].numpy(), frames_first[b].numpy()) for b in range(b_n)]
    return frames_first.transpose(-1, -2), torch.tensor(peaks, dtype=torch.float64).reshape(b_n, 1, 1)


def _check_inversion(
    *, sr: int, n_fft: int, hop_length: int, n_mels: int, n_iter: int, momentum: float, refine: int, seed: int
) -> None:
    """ParameterError for settings an inversion cannot use."""
    check_positive_int(sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    if not isinstance(n_iter, (int, np.integer)) or isinstance(n_iter, bool) or n_iter < 0:
        raise ParameterError(f"n_iter={n_iter!r} must be an integer >= 0")
    if not (isinstance(momentum, (int, float, np.floating)) and math.isfinite(momentum) and 0 <= momentum <= 1):
        raise ParameterError(f"momentum={momentum!r} must be a number in [0, 1]")
    if not isinstance(refine, (int, np.integer)) or isinstance(refine, bool) or refine < 0:
        raise ParameterError(f"refine={refine!r} must be an integer >= 0 (0 = plain Griffin-Lim)")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ParameterError(f"seed={seed!r} must be an integer")
    if hop_length > n_fft:
        raise ParameterError(f"hop_length={hop_length} must be at most n_fft={n_fft} (frames must overlap)")


def mfcc_to_mel(mfcc: torch.Tensor, *, n_mels: int = 128) -> torch.Tensor:
    """Inverse DCT (type 2, ortho, zero-padded to ``n_mels``) then dB -> power (ref 1.0).

    ``mfcc [shape=(..., n_mfcc, frames)]`` -> mel power ``[shape=(..., n_mels, frames)]``, float64,
    equal to ``librosa.feature.inverse.mfcc_to_mel``.
    """
    basis = torch.tensor(filters.dct_basis(n_mels, mfcc.shape[-2])).to(mfcc.device)  # (n_mels, n_mfcc)
    with one_torch_thread(mfcc.device.type == "cpu"):
        logmel = basis @ mfcc.to(torch.float64)  # (..., n_mels, T) in dB
        return torch.pow(10.0, 0.1 * logmel)


def mel_to_magnitude(
    mel: torch.Tensor, *, sr: int = 22050, n_fft: int = 2048, tol: float = 1e-6, max_iter: int = 2000
) -> torch.Tensor:
    """Mel power ``[shape=(..., n_mels, frames)]`` -> STFT magnitude ``[shape=(..., 1 + n_fft // 2, frames)]``.

    Non-negative least squares against ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)``
    (see :func:`nnls`), then the square root, as ``librosa.feature.inverse.mel_to_stft`` with
    ``power=2``. Each frame is solved at unit peak and scaled back (NNLS is scale-equivariant
    column by column), which keeps float32 accurate over any dynamic range. On the CPU it runs on
    one torch thread (:func:`~genrelab.invert.threads.one_torch_thread`; the same bits, never slower).
    """
    with one_torch_thread(mel.device.type == "cpu"):
        return _mel_to_magnitude(mel, sr=sr, n_fft=n_fft, tol=tol, max_iter=max_iter)


def _mel_to_magnitude(mel: torch.Tensor, *, sr: int, n_fft: int, tol: float, max_iter: int) -> torch.Tensor:
    """The body of :func:`mel_to_magnitude`, at the caller's thread count."""
    power, scale = _mel_to_power(mel, sr=sr, n_fft=n_fft, tol=tol, max_iter=max_iter)
    return torch.sqrt(power.to(torch.float64) * scale)


def _mel_to_power(
    mel: torch.Tensor, *, sr: int, n_fft: int, tol: float, max_iter: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """NNLS of each frame at unit peak: ``power [shape=(..., 1 + n_fft // 2, frames)]`` float32 and the
    frames' peaks ``scale [shape=(..., 1, frames)]`` float64; the power spectrum is ``power * scale``."""
    n_mels = mel.shape[-2]
    A = torch.tensor(filters.mel_basis(sr, n_fft, n_mels, dtype=np.float64)).to(mel.device)  # (n_mels, n_bins) float64
    scale = mel.amax(dim=-2, keepdim=True)  # (..., 1, T) per-frame peak
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    pinv = torch.tensor(_mel_pinv(sr, n_fft, n_mels), dtype=torch.float32, device=mel.device)  # (n_bins, n_mels)
    power = nnls(
        A.to(torch.float32),
        (mel / scale).to(torch.float32),
        tol=tol,
        max_iter=max_iter,
        pinv=pinv,
        lipschitz=_mel_lipschitz(sr, n_fft, n_mels),
    )
    return power, scale


def nnls(
    A: torch.Tensor,
    B: torch.Tensor,
    *,
    tol: float = 1e-6,
    max_iter: int = 2000,
    pinv: torch.Tensor | None = None,
    lipschitz: float | None = None,
) -> torch.Tensor:
    """Non-negative least squares for every column at once: ``argmin_{X >= 0} ||A X - B||^2``.

    ``A [shape=(m, n)]``, ``B [shape=(..., m, N)]`` -> ``X [shape=(..., n, N)]``, ``X >= 0``.
    Accelerated projected gradient (FISTA with adaptive restart) from the clipped
    pseudo-inverse solution (librosa's starting point), with a sparse ``A`` when it is sparse
    (a mel basis is: each FFT bin feeds at most two filters). Stops when the relative
    residual ``||AX - B|| / ||B||`` or the relative projected gradient (the KKT violation)
    falls below ``tol`` (column by column: converged columns stop iterating), or after
    ``max_iter`` steps. ``pinv [shape=(n, m)]``: A's pseudo-inverse, and ``lipschitz``:
    ``||A||_2 ** 2``, when the caller has them cached.
    """
    if A.ndim != 2 or B.ndim < 2 or B.shape[-2] != A.shape[0]:
        raise ParameterError(f"nnls needs A (m, n) and B (..., m, N); got {tuple(A.shape)} and {tuple(B.shape)}")
    m, n = A.shape
    lead = B.shape[:-2]
    cols = B.movedim(-2, 0).reshape(m, -1)  # (m, batch * N): columns are independent problems
    dtype = cols.dtype
    A = A.to(dtype)
    if pinv is None:
        pinv = torch.linalg.pinv(A.to(torch.float64))
    pinv = pinv.to(dtype)  # (n, m)
    X = (pinv @ cols).clamp_min_(0)  # (n, K)
    if A.count_nonzero() < 0.1 * A.numel():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch flags sparse CSR as beta
            As, AsT = A.to_sparse_csr(), A.T.contiguous().to_sparse_csr()
    else:
        As, AsT = A, A.T.contiguous()
    if lipschitz is None:
        lipschitz = float(torch.linalg.matrix_norm(A.to(torch.float64), ord=2) ** 2)
    b_norm = torch.linalg.vector_norm(cols, dim=0)  # (K,)
    g_norm = torch.linalg.vector_norm(AsT @ cols, dim=0)  # (K,)
    active = torch.arange(cols.shape[1], device=cols.device)  # columns still iterating
    Xa, Ba, Y, t = X.clone(), cols, X.clone(), 1.0
    for it in range(max_iter + 1):
        if it % 5 == 0:  # per-column convergence check on X (not the extrapolated Y)
            R = As @ Xa - Ba
            G = AsT @ R
            pg = torch.where(Xa > 0, G, G.clamp_max(0))  # projected gradient: zero at a KKT point
            done = (torch.linalg.vector_norm(R, dim=0) <= tol * b_norm[active]) | (
                torch.linalg.vector_norm(pg, dim=0) <= tol * g_norm[active]
            )
            if it == max_iter or bool(done.all()):
                X[:, active] = Xa
                break
            if bool(done.any()):  # freeze the converged columns, keep iterating the rest
                X[:, active] = Xa
                keep = ~done
                active, Xa, Ba, Y = active[keep], Xa[:, keep], Ba[:, keep], Y[:, keep]
        G = AsT @ (As @ Y - Ba)  # (n, K_active) gradient of 0.5 ||A Y - B||^2
        X_new = (Y - G / lipschitz).clamp_min_(0)
        if float(((X_new - Xa) * G).sum()) > 0:  # adaptive restart (O'Donoghue & Candes)
            t = 1.0
        t_new = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        Y = X_new + ((t - 1.0) / t_new) * (X_new - Xa)
        Xa, t = X_new, t_new
    return X.reshape(n, *lead, B.shape[-1]).movedim(0, -2)


@functools.lru_cache(maxsize=16)
def _mel_pinv(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    pinv = np.linalg.pinv(filters.mel_basis(sr, n_fft, n_mels, dtype=np.float64))  # (n_bins, n_mels)
    pinv.setflags(write=False)
    return pinv


@functools.lru_cache(maxsize=16)
def _mel_lipschitz(sr: int, n_fft: int, n_mels: int) -> float:
    """``||mel basis||_2 ** 2``, the step bound of :func:`nnls`."""
    return float(np.linalg.norm(filters.mel_basis(sr, n_fft, n_mels, dtype=np.float64), ord=2) ** 2)


def _check_array(mfcc: np.ndarray, what: str, rows: str) -> np.ndarray:
    """``(rows, frames)`` or ``(batch, rows, frames)`` finite float64, C-contiguous; ParameterError otherwise."""
    if isinstance(mfcc, torch.Tensor):
        mfcc = mfcc.detach().cpu().numpy()
    try:
        x = np.asarray(mfcc, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"{what} must be a numeric array, got {type(mfcc).__name__}") from None
    if x.ndim not in (2, 3):
        raise ParameterError(f"{what} must have shape ({rows}, frames) or (batch, {rows}, frames); got {x.shape}")
    if min(x.shape) < 1 or x.shape[-1] < 2:
        raise ParameterError(f"{what} shape {x.shape} needs at least 1 row and 2 frames")
    if not np.isfinite(x).all():
        raise ParameterError(f"{what} contains NaN or infinite values")
    return np.ascontiguousarray(x)
