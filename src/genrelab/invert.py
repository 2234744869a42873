"""MFCC -> audio, batched: inverse DCT, dB -> power, NNLS mel inversion, fast Griffin-Lim.

The mel steps run in torch. Griffin-Lim runs in torch on a non-CPU device (and for float64) and,
on the CPU, as the same iteration over cache-sized blocks of frames with FFTW and fused numba
loops (:mod:`genrelab._griffinlim_blocks`), which is many times faster there; both use torch's
thread count.

The steps and defaults follow ``librosa.feature.inverse.mfcc_to_audio`` (DCT type 2, ortho,
``ref=1.0``, Slaney mel basis from ``librosa.filters.mel``, magnitude = power ** 0.5, Griffin-Lim
with momentum 0.99 over a periodic Hann window, ``center=True``, zero padding) so the output
is framed exactly like librosa's: ``frames`` MFCC frames give ``(frames - 1) * hop_length``
samples. What differs is speed (every frame and every clip of a batch at once) and the
mel inversion, which here is solved to convergence rather than to L-BFGS-B's default
tolerance.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import torch

from genrelab._griffinlim_blocks import griffinlim_blocks
from genrelab.errors import ParameterError

__all__ = ["mfcc_to_audio", "mfcc_to_mel", "mel_to_magnitude", "nnls", "griffinlim"]


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
    x = _check_mfcc(mfcc)
    _check_positive_int(sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
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
    if x.shape[-2] > n_mels:
        raise ParameterError(f"mfcc has {x.shape[-2]} coefficients; n_mels={n_mels} must be at least that")
    dev = _device(device)
    single = x.ndim == 2
    batch = x[None] if single else x  # (B, n_mfcc, T)
    frames = batch.shape[-1]

    mel = mfcc_to_mel(torch.from_numpy(batch).to(dev), n_mels=n_mels)  # (B, n_mels, T) float64
    mag = mel_to_magnitude(mel, sr=sr, n_fft=n_fft)  # (B, 1 + n_fft // 2, T) float64
    if not torch.isfinite(mag).all() or mag.max() > torch.finfo(torch.float32).max:
        raise ParameterError("mfcc values imply a mel power beyond float32 range; check their scale (dB)")
    peak = mag.amax(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)  # (B, 1, 1)
    S = (mag / peak).to(torch.float32)  # Griffin-Lim is scale-equivariant: run each clip at unit peak
    basis = torch.tensor(_mel_basis(sr, n_fft, n_mels)).to(dev)  # (n_mels, F)
    y = griffinlim(S, n_iter=n_iter, hop_length=hop_length, n_fft=n_fft, momentum=momentum,
                   length=(frames - 1) * hop_length, seed=seed, mel_basis=basis,
                   mel=(mel / peak**2), refine=refine)  # (B, n)
    y = (y.to(torch.float64) * peak[:, 0]).to(torch.float32).cpu().numpy()
    return y[0] if single else y


def mfcc_to_mel(mfcc: torch.Tensor, *, n_mels: int = 128) -> torch.Tensor:
    """Inverse DCT (type 2, ortho, zero-padded to ``n_mels``) then dB -> power (ref 1.0).

    ``mfcc [shape=(..., n_mfcc, frames)]`` -> mel power ``[shape=(..., n_mels, frames)]``, float64,
    equal to ``librosa.feature.inverse.mfcc_to_mel``.
    """
    basis = torch.tensor(_idct_basis(n_mels, mfcc.shape[-2])).to(mfcc.device)  # (n_mels, n_mfcc)
    logmel = basis @ mfcc.to(torch.float64)  # (..., n_mels, T) in dB
    return torch.pow(10.0, 0.1 * logmel)


def mel_to_magnitude(mel: torch.Tensor, *, sr: int = 22050, n_fft: int = 2048, tol: float = 1e-6,
                     max_iter: int = 2000) -> torch.Tensor:
    """Mel power ``[shape=(..., n_mels, frames)]`` -> STFT magnitude ``[shape=(..., 1 + n_fft // 2, frames)]``.

    Non-negative least squares against ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)``
    (see :func:`nnls`), then the square root, as ``librosa.feature.inverse.mel_to_stft`` with
    ``power=2``. Each frame is solved at unit peak and scaled back (NNLS is scale-equivariant
    column by column), which keeps float32 accurate over any dynamic range.
    """
    n_mels = mel.shape[-2]
    A = torch.tensor(_mel_basis(sr, n_fft, n_mels)).to(mel.device)  # (n_mels, n_bins) float64
    scale = mel.amax(dim=-2, keepdim=True)  # (..., 1, T) per-frame peak
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    pinv = torch.tensor(_mel_pinv(sr, n_fft, n_mels), dtype=torch.float32, device=mel.device)  # (n_bins, n_mels)
    power = nnls(A.to(torch.float32), (mel / scale).to(torch.float32), tol=tol, max_iter=max_iter, pinv=pinv,
                 lipschitz=_mel_lipschitz(sr, n_fft, n_mels))
    return torch.sqrt(power.to(torch.float64) * scale)


def nnls(A: torch.Tensor, B: torch.Tensor, *, tol: float = 1e-6, max_iter: int = 2000,
         pinv: torch.Tensor | None = None, lipschitz: float | None = None) -> torch.Tensor:
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
                torch.linalg.vector_norm(pg, dim=0) <= tol * g_norm[active])
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


def griffinlim(S: torch.Tensor, *, n_iter: int = 32, hop_length: int = 512, n_fft: int = 2048,
               momentum: float = 0.99, length: int | None = None, seed: int = 0,
               mel_basis: torch.Tensor | None = None, mel: torch.Tensor | None = None,
               refine: int = 0) -> torch.Tensor:
    """Fast Griffin-Lim (Perraudin et al. 2013), batched: magnitude ``[shape=(B, 1 + n_fft // 2, T)]``
    -> waveform ``[shape=(B, length)]``.

    The same iteration as ``librosa.griffinlim`` (momentum applied to the previous rebuilt
    spectrum, Hann window, ``center=True``, zero padding), with a random initial phase drawn
    from ``seed``; every clip of the batch starts from the same draw.

    With ``refine = k > 0`` and the target ``mel [shape=(B, n_mels, T)]`` (power) with its
    ``mel_basis [shape=(n_mels, 1 + n_fft // 2)]``, every k-th iteration rescales the target
    magnitude so that the mel power of the rebuilt spectrum moves half-way (in dB) onto ``mel``:
    each bin is multiplied by the geometric mean, over the filters it feeds (weighted by the
    filter weights), of ``(mel / mel(rebuilt)) ** 0.25``; levels below the clip's peak - 80 dB
    (where librosa's MFCCs clip) count as equal. Plain Griffin-Lim matches a magnitude that no
    signal has exactly; this moves the mismatch out of the mel bands that MFCCs measure.
    """
    if refine and (mel is None or mel_basis is None):
        raise ParameterError("griffinlim refine needs mel and mel_basis")
    frames = S.shape[-1]
    if length is not None and length != (frames - 1) * hop_length:
        raise ParameterError(f"length={length} must be (frames - 1) * hop_length = {(frames - 1) * hop_length}")
    length = (frames - 1) * hop_length
    target = S.transpose(-1, -2).contiguous()  # (B, T, F): frames first, so FFTs run on the last axis
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    phase = torch.rand(S.shape[-1:-3:-1], generator=gen, dtype=torch.float32).mul_(2 * math.pi)  # (T, F)
    phase = phase.to(device=S.device, dtype=S.dtype)  # the same draw for every clip
    angles = torch.complex(target * torch.cos(phase), target * torch.sin(phase))  # (B, T, F) = polar(target, phase)
    eps = torch.finfo(S.dtype).tiny
    if refine:
        basis_t = mel_basis.to(S.dtype).T.contiguous()  # (F, n_mels)
        spread = (mel_basis.to(S.dtype) / mel_basis.to(S.dtype).sum(dim=0, keepdim=True).clamp_min(eps))  # (n_mels, F), columns sum to 1
        log_target = torch.log(mel.to(S.dtype).transpose(-1, -2).clamp_min(eps))  # (B, T, n_mels)
        # MFCCs see mel power only down to 80 dB below the clip's peak (librosa's top_db): match that
        floor = log_target.amax(dim=(-2, -1), keepdim=True) - _TOP_DB * math.log(10.0) / 10.0  # (B, 1, 1)
        log_target = torch.maximum(log_target, floor)
    c = momentum / (1.0 + momentum)
    if S.device.type == "cpu" and S.dtype == torch.float32 and _NUMBA_ON_CPU:  # the same iteration, FFTW + numba
        refine_args = (basis_t.T.contiguous(), spread, log_target, floor) if refine else None
        return _griffinlim_cpu(target, angles, n_iter=n_iter, hop_length=hop_length, n_fft=n_fft, c=c,
                               length=length, refine=refine, refine_args=refine_args)
    pair = _StftPair(n_fft=n_fft, hop_length=hop_length, frames=frames, length=length, dtype=S.dtype, device=S.device)
    prev = None
    for i in range(n_iter):
        rebuilt = pair.stft(pair.istft(angles))  # (B, T, F) the nearest consistent spectrogram
        if refine and i % refine == refine - 1:
            log_now = torch.log((rebuilt.abs().square_() @ basis_t).clamp_min_(eps))  # (B, T, n_mels)
            log_now = torch.maximum(log_now, floor)
            log_gain = (log_target - log_now).clamp_(-_MAX_LOG_GAIN, _MAX_LOG_GAIN)
            target = target * torch.exp_((0.25 * log_gain) @ spread)  # half a step; 0.5: power -> magnitude
        if prev is None:
            angles = torch.sgn(rebuilt)
        else:  # rebuilt - c * prev, on real views (complex add is not vectorised on CPU)
            angles = torch.sgn(torch.view_as_complex(torch.add(torch.view_as_real(rebuilt),
                                                               torch.view_as_real(prev), alpha=-c)))
        angles.mul_(target)  # (B, T, F) keep the phase, impose the magnitude (sgn(0) = 0)
        prev = rebuilt
    return pair.istft(angles)


def _griffinlim_cpu(target: torch.Tensor, angles: torch.Tensor, *, n_iter: int, hop_length: int, n_fft: int,
                    c: float, length: int, refine: int, refine_args: tuple | None) -> torch.Tensor:
    """The loop of :func:`griffinlim` on the CPU for float32: ``target [shape=(B, T, F)]``, ``angles`` its
    complex start -> ``[shape=(B, length)]``, by :mod:`genrelab._griffinlim_blocks` (FFTW on blocks of
    frames that stay in cache, fused numba loops, clips or runs of frames on torch's thread count)."""
    from genrelab import _invert_kernels as kern

    threads = max(1, torch.get_num_threads())
    b, frames, n_bins = target.shape
    tgt = target.numpy().copy()  # (B, T, F) refined in place
    spec = angles.numpy()  # (B, T, F) a fresh tensor from griffinlim: overwritten in place
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float32).numpy()
    env = kern.envelope(window, frames, hop_length, length)
    if length > 0 and float(env.min()) < 1e-11:
        raise ParameterError(f"hop_length={hop_length} leaves gaps between frames of n_fft={n_fft}")
    refine_step = None
    if refine:
        basis, spread, log_target, floor = (t.numpy() for t in refine_args)
        lo, hi = kern.bands(basis)
        floor = np.ascontiguousarray(np.broadcast_to(floor.reshape(b, 1), (b, frames)))
        tiny = float(np.finfo(np.float32).tiny)

        def refine_step(k: int, j0: int, j1: int, rebuilt: np.ndarray) -> None:
            gain = np.empty((j1 - j0, n_bins), dtype=np.float32)
            kern.refine_gain(rebuilt.view(np.float32), basis, spread, lo, hi, log_target[k, j0:j1], floor[k, j0:j1],
                             tiny, _MAX_LOG_GAIN, gain)
            tgt[k, j0:j1] *= np.exp(gain, out=gain)

    y = griffinlim_blocks(tgt, spec, window, (1.0 / env).astype(np.float32), n_iter=n_iter, hop=hop_length, c=c,
                          threads=threads, refine=refine, refine_step=refine_step)
    return torch.from_numpy(y)


class _StftPair:
    """``torch.stft`` / ``torch.istft`` (Hann, ``center=True``, zero padding) on frames-first spectra
    ``(B, T, F)``, with the window and the overlap-add envelope computed once."""

    def __init__(self, *, n_fft: int, hop_length: int, frames: int, length: int, dtype: torch.dtype,
                 device: torch.device) -> None:
        self.n_fft, self.hop, self.frames, self.length = n_fft, hop_length, frames, length
        self.window = torch.hann_window(n_fft, periodic=True, dtype=dtype, device=device)
        padded = n_fft + hop_length * (frames - 1)
        envelope = self._overlap_add(self.window.square().expand(1, frames, n_fft), padded)[0]
        envelope = envelope[n_fft // 2: n_fft // 2 + length]
        if length > 0 and float(envelope.min()) < 1e-11:
            raise ParameterError(f"hop_length={hop_length} leaves gaps between frames of n_fft={n_fft}")
        self.inv_envelope = 1.0 / envelope  # (length,)

    def _overlap_add(self, frames: torch.Tensor, padded: int, window: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, n_fft)`` frames, times ``window`` if given -> ``(B, padded)`` overlap-added signal."""
        b, t, n = frames.shape
        if n % self.hop == 0:  # sum n_fft / hop shifted copies, hop samples at a time
            k = n // self.hop
            out = frames.new_zeros(b, t + k - 1, self.hop)
            chunks = frames.reshape(b, t, k, self.hop)
            for j in range(k):
                if window is None:
                    out[:, j: j + t] += chunks[:, :, j]
                else:
                    out[:, j: j + t].addcmul_(chunks[:, :, j], window[j * self.hop: (j + 1) * self.hop])
            return out.reshape(b, -1)[:, :padded]
        if window is not None:
            frames = frames * window
        folded = torch.nn.functional.fold(frames.transpose(1, 2), output_size=(1, padded),
                                          kernel_size=(1, n), stride=(1, self.hop))
        return folded.reshape(b, padded)

    def istft(self, spec: torch.Tensor) -> torch.Tensor:
        """``(B, T, F)`` complex -> ``(B, length)`` real, as ``torch.istft(..., center=True, length=length)``."""
        frames = torch.fft.irfft(spec, n=self.n_fft, dim=-1)  # (B, T, n_fft)
        y = self._overlap_add(frames, self.n_fft + self.hop * (self.frames - 1), self.window)
        return y[:, self.n_fft // 2: self.n_fft // 2 + self.length] * self.inv_envelope

    def stft(self, y: torch.Tensor) -> torch.Tensor:
        """``(B, length)`` real -> ``(B, T, F)`` complex, as ``torch.stft(..., center=True, pad_mode="constant")``."""
        half = self.n_fft // 2
        padded = torch.nn.functional.pad(y, (half, half))  # (B, length + n_fft)
        frames = padded.unfold(-1, self.n_fft, self.hop)[:, : self.frames] * self.window  # (B, T, n_fft)
        return torch.fft.rfft(frames, dim=-1)


_MAX_LOG_GAIN = math.log(1e4)  # cap one refinement step at +-40 dB of mel power
_TOP_DB = 80.0  # librosa.feature.mfcc's power_to_db(top_db=80)
_NUMBA_ON_CPU = True  # False: run the torch loop on the CPU too (the tests compare the two)


# ---------------------------------------------------------------------------------------------
# helpers


@functools.lru_cache(maxsize=16)
def _mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    import librosa

    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, dtype=np.float64)  # (n_mels, n_bins)
    basis.setflags(write=False)
    return basis


@functools.lru_cache(maxsize=16)
def _mel_pinv(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    pinv = np.linalg.pinv(_mel_basis(sr, n_fft, n_mels))  # (n_bins, n_mels)
    pinv.setflags(write=False)
    return pinv


@functools.lru_cache(maxsize=16)
def _mel_lipschitz(sr: int, n_fft: int, n_mels: int) -> float:
    """``||mel basis||_2 ** 2``, the step bound of :func:`nnls`."""
    return float(np.linalg.norm(_mel_basis(sr, n_fft, n_mels), ord=2) ** 2)


@functools.lru_cache(maxsize=16)
def _idct_basis(n_mels: int, n_mfcc: int) -> np.ndarray:
    import scipy.fft

    # column j = idct of the j-th unit vector zero-padded to n_mels, as scipy's idct(..., n=n_mels)
    basis = scipy.fft.idct(np.eye(n_mfcc), axis=0, type=2, norm="ortho", n=n_mels)  # (n_mels, n_mfcc)
    basis.setflags(write=False)
    return basis


def _check_mfcc(mfcc: np.ndarray) -> np.ndarray:
    if isinstance(mfcc, torch.Tensor):
        mfcc = mfcc.detach().cpu().numpy()
    try:
        x = np.asarray(mfcc, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"mfcc must be a numeric array, got {type(mfcc).__name__}") from None
    if x.ndim not in (2, 3):
        raise ParameterError(f"mfcc must have shape (n_mfcc, frames) or (batch, n_mfcc, frames); got {x.shape}")
    if min(x.shape) < 1 or x.shape[-1] < 2:
        raise ParameterError(f"mfcc shape {x.shape} needs at least 1 coefficient and 2 frames")
    if not np.isfinite(x).all():
        raise ParameterError("mfcc contains NaN or infinite values")
    return np.ascontiguousarray(x)


def _check_positive_int(**params: object) -> None:
    for name, value in params.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
            raise ParameterError(f"{name}={value!r} must be a positive integer")


def _device(device: str) -> torch.device:
    try:
        dev = torch.device(device)
        torch.empty(0, device=dev)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ParameterError(f"device={device!r} is not usable here ({str(exc).splitlines()[0]})") from None
    return dev
