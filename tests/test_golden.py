"""Bit-identity across changes: the 57 features of the ten real clips and
``mfcc_to_audio`` of a fixed input match what the code before the move produced
(``tests/data/golden_hashes.json``, recorded with warm numba caches, as every test runs): the
features bit for bit, the audio to rounding (see the note in the JSON)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genrelab.audio import load
from genrelab.features import FEATURE_COLUMNS, extract_clip, mfcc
from genrelab.invert import mfcc_to_audio

GOLDEN = json.loads((Path(__file__).parent / "data" / "golden_hashes.json").read_text())


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _fixed_mfcc() -> np.ndarray:
    t = np.arange(22050 * 4) / 22050
    rng = np.random.default_rng(7)
    y = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size)
    return mfcc(y.astype(np.float32), sr=22050)


def test_real_clip_features_are_bit_identical(gtzan_dir: Path) -> None:
    clips = sorted((gtzan_dir / "genres").glob("*/*.au"))
    assert [p.name for p in clips] == sorted(GOLDEN["features"])
    for p in clips:
        f = extract_clip(load(p, sr=22050), sr=22050)
        v = np.array([f[c] for c in FEATURE_COLUMNS], dtype=np.float64)
        assert _sha(v) == GOLDEN["features"][p.name], p.name


def _envelope(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64).reshape(-1)
    return np.abs(a[: a.size // 64 * 64]).reshape(64, -1).mean(1)


def test_inversion_matches_the_recorded_audio_and_ignores_threads() -> None:
    m = _fixed_mfcc()
    assert _sha(m) == GOLDEN["mfcc"]
    before = torch.get_num_threads()
    out = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out[threads] = (mfcc_to_audio(m, n_iter=16, seed=3),
                            mfcc_to_audio(np.stack([m[:, :60], m[:, 40:100]]), n_iter=8, seed=1))
    finally:
        torch.set_num_threads(before)
    for k in range(2):
        assert np.array_equal(out[1][k], out[2][k])  # the same bits whatever the thread count
    for name, y in (("single", out[1][0]), ("batch", out[1][1])):
        ref = np.asarray(GOLDEN["invert_envelope"][name])
        assert np.allclose(_envelope(y), ref, rtol=1e-3, atol=1e-7), name


def test_features_do_not_depend_on_the_callers_blas_threads(gtzan_dir: Path) -> None:
    """The engine's matrix products run on one BLAS thread whatever the caller set (with two
    threads OpenBLAS rounds them differently: 1e-9 relative, enough to change the bits)."""
    from genrelab.threads import blas_threads

    y = load(sorted((gtzan_dir / "genres").glob("*/*.au"))[0], sr=22050)
    out = {}
    for n in (1, 2):
        with blas_threads(n):
            f = extract_clip(y, sr=22050)
            out[n] = np.array([f[c] for c in FEATURE_COLUMNS])
    np.testing.assert_array_equal(out[1], out[2])
