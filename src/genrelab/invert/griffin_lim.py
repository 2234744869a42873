"""Fast Griffin-Lim, batched: the torch loop (any device, float64) and, on the CPU in float32,
the same iteration over cache-sized blocks of frames (:mod:`genrelab.invert.blocks`)."""

from __future__ import annotations

import math

import numpy as np
import torch

from genrelab.dsp import filters
from genrelab.errors import ParameterError
from genrelab.invert.blocks import griffinlim_blocks
from genrelab.threads import one_torch_thread

__all__ = ["griffinlim"]

_MAX_LOG_GAIN = math.log(1e4)  # cap one refinement step at +-40 dB of mel power
_NUMBA_ON_CPU = True  # False: run the torch loop on the CPU too (the tests compare the two)
_TOP_DB = 80.0  # librosa.feature.mfcc's power_to_db(top_db=80)


def griffinlim(
    S: torch.Tensor,
    *,
    n_iter: int = 32,
    hop_length: int = 512,
    n_fft: int = 2048,
    momentum: float = 0.99,
    length: int | None = None,
    seed: int = 0,
    mel_basis: torch.Tensor | None = None,
    mel: torch.Tensor | None = None,
    refine: int = 0,
) -> torch.Tensor:
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
    if S.ndim != 3 or S.shape[-2] != 1 + n_fft // 2:
        raise ParameterError(f"S has shape {tuple(S.shape)}; n_fft={n_fft} needs (batch, {1 + n_fft // 2}, frames)")
    frames = S.shape[-1]
    if length is not None and length != (frames - 1) * hop_length:
        raise ParameterError(f"length={length} must be (frames - 1) * hop_length = {(frames - 1) * hop_length}")
    length = (frames - 1) * hop_length
    with one_torch_thread(S.device.type == "cpu"):  # elementwise set-up: see one_torch_thread
        target = S.transpose(-1, -2).contiguous()  # (B, T, F): frames first, so FFTs run on the last axis
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        phase = torch.rand(S.shape[-1:-3:-1], generator=gen, dtype=torch.float32).mul_(2 * math.pi)  # (T, F)
        phase = phase.to(device=S.device, dtype=S.dtype)  # the same draw for every clip
        angles = torch.complex(target * torch.cos(phase), target * torch.sin(phase))  # (B, T, F) = polar(target, phase)
        parts = _refine_parts(mel_basis, mel, S.dtype) if refine else None  # type: ignore[arg-type]
    c = momentum / (1.0 + momentum)
    if S.device.type == "cpu" and S.dtype == torch.float32 and _NUMBA_ON_CPU:  # the same iteration, FFTW + numba
        refine_args = (parts[0].T.contiguous(), *parts[1:]) if parts is not None else None
        return _griffinlim_cpu(
            target,
            angles,
            n_iter=n_iter,
            hop_length=hop_length,
            n_fft=n_fft,
            c=c,
            length=length,
            refine=refine,
            refine_args=refine_args,
        )
    return _griffinlim_torch(
        target,
        angles,
        n_iter=n_iter,
        hop_length=hop_length,
        n_fft=n_fft,
        c=c,
        length=length,
        refine=refine,
        parts=parts,
    )


def _refine_parts(mel_basis: torch.Tensor, mel: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """What the mel refinement needs: ``basis_t (F, n_mels)``, ``spread (n_mels, F)`` (columns sum
    to 1), ``log_target (B, T, n_mels)`` floored at ``floor (B, 1, 1)`` (the clip's peak - 80 dB)."""
    eps = torch.finfo(dtype).tiny
    basis_t = mel_basis.to(dtype).T.contiguous()  # (F, n_mels)
    spread = mel_basis.to(dtype) / mel_basis.to(dtype).sum(dim=0, keepdim=True).clamp_min(eps)  # (n_mels, F)
    log_target = torch.log(mel.to(dtype).transpose(-1, -2).clamp_min(eps))  # (B, T, n_mels)
    # MFCCs see mel power only down to 80 dB below the clip's peak (librosa's top_db): match that
    floor = log_target.amax(dim=(-2, -1), keepdim=True) - _TOP_DB * math.log(10.0) / 10.0  # (B, 1, 1)
    return basis_t, spread, torch.maximum(log_target, floor), floor


def _griffinlim_torch(
    target: torch.Tensor,
    angles: torch.Tensor,
    *,
    n_iter: int,
    hop_length: int,
    n_fft: int,
    c: float,
    length: int,
    refine: int,
    parts: tuple[torch.Tensor, ...] | None,
) -> torch.Tensor:
    """The loop of :func:`griffinlim` in torch (any device and dtype): ``target (B, T, F)`` -> ``(B, length)``."""
    eps = torch.finfo(target.dtype).tiny
    if parts is not None:
        basis_t, spread, log_target, floor = parts
    pair = _StftPair(
        n_fft=n_fft,
        hop_length=hop_length,
        frames=target.shape[1],
        length=length,
        dtype=target.dtype,
        device=target.device,
    )
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
            angles = torch.sgn(
                torch.view_as_complex(torch.add(torch.view_as_real(rebuilt), torch.view_as_real(prev), alpha=-c))
            )
        angles.mul_(target)  # (B, T, F) keep the phase, impose the magnitude (sgn(0) = 0)
        prev = rebuilt
    return pair.istft(angles)


def _griffinlim_cpu(
    target: torch.Tensor,
    angles: torch.Tensor,
    *,
    n_iter: int,
    hop_length: int,
    n_fft: int,
    c: float,
    length: int,
    refine: int,
    refine_args: tuple | None,
) -> torch.Tensor:
    """The loop of :func:`griffinlim` on the CPU for float32: ``target [shape=(B, T, F)]``, ``angles`` its
    complex start -> ``[shape=(B, length)]``, by :mod:`genrelab.invert.blocks` (FFTW on blocks of
    frames that stay in cache, fused numba loops, clips or runs of frames on torch's thread count)."""
    from genrelab.invert import kernels as kern

    threads = max(1, torch.get_num_threads())
    b, frames, n_bins = target.shape
    tgt = target.numpy().copy()  # (B, T, F) refined in place
    spec = angles.numpy()  # (B, T, F) a fresh tensor from griffinlim: overwritten in place
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float32).numpy()
    env = filters.window_sumsquare(window, n_frames=frames, hop_length=hop_length)[n_fft // 2 : n_fft // 2 + length]
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
            kern.refine_gain(
                rebuilt.view(np.float32),
                basis,
                spread,
                lo,
                hi,
                log_target[k, j0:j1],
                floor[k, j0:j1],
                tiny,
                _MAX_LOG_GAIN,
                gain,
            )
            tgt[k, j0:j1] *= np.exp(gain, out=gain)

    y = griffinlim_blocks(
        tgt,
        spec,
        window,
        (1.0 / env).astype(np.float32),
        n_iter=n_iter,
        hop=hop_length,
        c=c,
        threads=threads,
        refine=refine,
        refine_step=refine_step,
    )
    return torch.from_numpy(y)


class _StftPair:
    """``torch.stft`` / ``torch.istft`` (Hann, ``center=True``, zero padding) on frames-first spectra
    ``(B, T, F)``, with the window and the overlap-add envelope computed once."""

    def __init__(
        self, *, n_fft: int, hop_length: int, frames: int, length: int, dtype: torch.dtype, device: torch.device
    ) -> None:
        self.n_fft, self.hop, self.frames, self.length = n_fft, hop_length, frames, length
        self.window = torch.hann_window(n_fft, periodic=True, dtype=dtype, device=device)
        envelope = torch.from_numpy(
            filters.window_sumsquare(
                self.window.cpu().numpy(), n_frames=frames, hop_length=hop_length, dtype=np.float64
            )
        )
        envelope = envelope[n_fft // 2 : n_fft // 2 + length].to(dtype=dtype, device=device)
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
                    out[:, j : j + t] += chunks[:, :, j]
                else:
                    out[:, j : j + t].addcmul_(chunks[:, :, j], window[j * self.hop : (j + 1) * self.hop])
            return out.reshape(b, -1)[:, :padded]
        if window is not None:
            frames = frames * window
        folded = torch.nn.functional.fold(
            frames.transpose(1, 2), output_size=(1, padded), kernel_size=(1, n), stride=(1, self.hop)
        )
        return folded.reshape(b, padded)

    def istft(self, spec: torch.Tensor) -> torch.Tensor:
        """``(B, T, F)`` complex -> ``(B, length)`` real, as ``torch.istft(..., center=True, length=length)``."""
        frames = torch.fft.irfft(spec, n=self.n_fft, dim=-1)  # (B, T, n_fft)
        y = self._overlap_add(frames, self.n_fft + self.hop * (self.frames - 1), self.window)
        return y[:, self.n_fft // 2 : self.n_fft // 2 + self.length] * self.inv_envelope

    def stft(self, y: torch.Tensor) -> torch.Tensor:
        """``(B, length)`` real -> ``(B, T, F)`` complex, as ``torch.stft(..., center=True, pad_mode="constant")``."""
        half = self.n_fft // 2
        padded = torch.nn.functional.pad(y, (half, half))  # (B, length + n_fft)
        frames = padded.unfold(-1, self.n_fft, self.hop)[:, : self.frames] * self.window  # (B, T, n_fft)
        return torch.fft.rfft(frames, dim=-1)
