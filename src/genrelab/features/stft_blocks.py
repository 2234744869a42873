"""The feature engine's STFT and spectral pass over a whole float32 signal in one compiled call: blocks
of ``rows`` frames framed (:func:`_kernels.windowed_frames`), transformed by FFTW called from numba
(:func:`genrelab.dsp.fftw_call.call_fftw` on :func:`genrelab.dsp.fft.raw_plans`' plan) and passed
through :func:`_kernels.spectral_pass` while they are in cache. The steps and their order are those of
the engine's Python loop over blocks (the same bits; FFTW gives a frame the same bits in a plan of any
row count), without a Python round trip per block, which is what lets the blocks be small enough
(16 frames) for a block's frames, spectrum and power to stay in L2."""

from __future__ import annotations

import numba

from genrelab.dsp.fftw_call import call_fftw
from genrelab.features import _kernels as K

__all__ = ["fftw_spectral_blocks"]


@numba.njit(cache=True, nogil=True)
def fftw_spectral_blocks(
    y,
    n_fft,
    hop,
    window,
    t,
    frames,
    spectra,
    fft,
    D,
    keep,
    spectral_args,
    power,
    mag,
    centroid,
    bandwidth,
    rolloff,
    outs,
):  # pragma: no cover - compiled
    """Frames ``[0, t)`` of ``y``: ``frames (rows, n_fft)`` / ``spectra (rows, f)`` are the FFTW plan's
    buffers, ``fft = (execute_r2c, plan)``; with ``keep`` the spectrum goes to ``D (t, f)`` and the
    magnitude to ``mag (t, f)`` (else ``mag`` is one scratch row). ``spectral_args = (freq, roll_percent,
    tiny, lo, hi, sr_over_nfft, fft_eps)``; ``outs = (pitches, pmags, mel_starts, mel_ends, mel_offsets,
    mel_weights, mel (t, n_mels))``. Returns :func:`_kernels.spectral_pass`'s ``(n_peaks, floor_limited)``
    over all blocks."""
    freq, roll_percent, tiny, lo, hi, sr_over_nfft, fft_eps = spectral_args
    pitches, pmags, mel_starts, mel_ends, mel_offsets, mel_weights, mel = outs
    rows = frames.shape[0]
    n = 0
    limited = False
    for b0 in range(0, t, rows):
        b1 = min(b0 + rows, t)
        K.windowed_frames(y, n_fft, hop, window, b0, b1, frames)
        call_fftw(fft[0], fft[1], frames.ctypes.data, spectra.ctypes.data)
        Db = spectra[: b1 - b0]
        if keep:
            D[b0:b1] = Db
        n, lim = K.spectral_pass(
            Db,
            freq,
            roll_percent,
            tiny,
            lo,
            hi,
            sr_over_nfft,
            fft_eps,
            power[b0:b1],
            mag[b0:b1] if keep else mag,
            centroid[b0:b1],
            bandwidth[b0:b1],
            rolloff[b0:b1],
            pitches,
            pmags,
            n,
            mel_starts,
            mel_ends,
            mel_offsets,
            mel_weights,
            mel[b0:b1],
        )
        limited = limited or lim
    return n, limited
