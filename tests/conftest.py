"""Shared fixtures: the real GTZAN material beside the repo, and a tiny synthetic corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SHARED_GTZAN = REPO.parent / "shared" / "gtzan"

GENRES4 = ("blues", "classical", "metal", "pop")


@pytest.fixture(scope="session")
def gtzan_dir() -> Path:
    """``../shared/gtzan`` (features CSV, ten real .au clips, split lists), or skip."""
    if not (SHARED_GTZAN / "features_30_sec.csv").is_file():
        pytest.skip(f"real GTZAN material not found at {SHARED_GTZAN}")
    return SHARED_GTZAN


def _tone_clip(rng: np.random.Generator, genre_index: int, seconds: float, sr: int) -> np.ndarray:
    """A cheap, genre-dependent test signal (not music): a chord plus noise bursts."""
    t = np.arange(int(seconds * sr)) / sr
    base = 110.0 * 2 ** (genre_index * 3 / 12)
    y = sum(np.sin(2 * np.pi * base * k * t + rng.uniform(0, 6)) / k for k in (1, 2, 3, 5))
    beat = (np.sin(2 * np.pi * (1.5 + genre_index * 0.5) * t) > 0.7).astype(float)
    y = 0.3 * y / 2 + 0.2 * beat * rng.standard_normal(t.size) * (genre_index / 10 + 0.1)
    return (0.8 * y / np.max(np.abs(y))).astype(np.float32)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder-per-genre corpus: 4 genres x 4 clips x 6 s at 22050 Hz of simple test signals."""
    root = tmp_path_factory.mktemp("tiny_corpus")
    rng = np.random.default_rng(0)
    sr = 22050
    for gi, genre in enumerate(GENRES4):
        (root / genre).mkdir()
        for k in range(4):
            sf.write(root / genre / f"{genre}.{k:05d}.wav", _tone_clip(rng, gi * 2, 6.0, sr), sr)
    return root


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One torch thread per test process: pytest-xdist already runs two processes on two cores,
    and oversubscribed small models run many times slower."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_configure(config: pytest.Config) -> None:
    """Compile numba kernels (librosa's and ours) once, before pytest-xdist starts its workers.

    In a fresh virtualenv both workers would otherwise compile and write the same on-disk numba
    caches at the same moment; that race crashed a worker with a segmentation fault.
    """
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has warmed the caches
        return
    from genrelab.warmup import warm

    warm()
