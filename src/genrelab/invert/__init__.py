"""MFCC -> audio, batched: inverse DCT, dB -> power, NNLS mel inversion, fast Griffin-Lim.

The mel steps run in torch. Griffin-Lim runs in torch on a non-CPU device (and for float64) and,
on the CPU, as the same iteration over cache-sized blocks of frames with FFTW and fused numba
loops (:mod:`genrelab.invert.blocks`), which is many times faster there; both use torch's
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

from genrelab.invert.griffin_lim import griffinlim
from genrelab.invert.mel import mel_to_audio, mel_to_magnitude, mfcc_to_audio, mfcc_to_mel, nnls

__all__ = ["mfcc_to_audio", "mel_to_audio", "mfcc_to_mel", "mel_to_magnitude", "nnls", "griffinlim"]
