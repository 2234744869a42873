"""Compile (and cache on disk) every numba kernel once: ``python -m genrelab.warmup``.

``make install`` runs it, so the first real command loads compiled kernels instead of spending
seconds compiling them. It also makes results repeatable: a kernel compiled in the running
process can round differently (fastmath) from the same kernel loaded from numba's cache, so
every process should load from the cache, and this puts it there.
"""

from __future__ import annotations

import numpy as np

__all__ = ["warm", "warm_worker"]


def warm() -> None:
    """Run the feature engine, its librosa reference and the inversion on a tiny signal, and put
    the engine's filter banks at the default settings on disk (:func:`genrelab.features.engine.warm_banks`)."""
    from genrelab.features import extract_clip, mfcc
    from genrelab.features.engine import warm_banks
    from genrelab.features.hpss import istft
    from genrelab.features.reference import reference_features
    from genrelab.invert import mfcc_to_audio

    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal(22050 * 4)).astype(np.float32)
    extract_clip(y, sr=22050)
    istft(np.zeros((2, 8, 1025), dtype=np.complex64), hop_length=512, length=4096)  # HPSS's rare two-part path
    warm_banks()
    reference_features(y, sr=22050)
    m = mfcc(y[:22050], sr=22050)[:, :8]
    mfcc_to_audio(m, n_iter=2)
    mfcc_to_audio(np.stack([m, m]), n_iter=2)  # a batch: its clips are strided views for some kernels


def warm_worker() -> None:
    """What an extraction worker process runs as it starts (:func:`genrelab.features.workers.pool`):
    import the engine and the audio loader and extract 3 s of fixed noise, which loads the compiled
    kernels, the FFTW plans and the filter banks before the first clip arrives."""
    from genrelab.audio import load  # noqa: F401 - soundfile and soxr, which every task needs
    from genrelab.features.engine import extract_features

    extract_features((0.1 * np.random.default_rng(0).standard_normal(22050 * 3)).astype(np.float32))


if __name__ == "__main__":
    warm()
    print("genrelab: numba kernels compiled and cached")
