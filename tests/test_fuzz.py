"""Fuzzing ``genrelab.audio.load``: seeded mutations of small WAV, AU and FLAC files either
load (finite float32 samples) or raise AudioError; nothing else escapes. The mutation engine is
``bench/fuzz.py`` (which runs >= 10,000 of them, resampling too); here a few hundred, same
seeds every run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "fuzz.py"


@pytest.fixture(scope="module")
def fuzz():
    spec = importlib.util.spec_from_file_location("genrelab_bench_fuzz", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_seed_files_load(fuzz, tmp_path: Path) -> None:
    for name, data in fuzz.seed_files().items():
        path = tmp_path / name
        path.write_bytes(data)
        assert fuzz.run_case(path) == "loaded", name


def test_mutations_are_seeded_and_change_the_file(fuzz) -> None:
    seeds = fuzz.seed_files()
    a = fuzz.mutate("pcm16.wav", seeds["pcm16.wav"], np.random.default_rng(7))
    b = fuzz.mutate("pcm16.wav", seeds["pcm16.wav"], np.random.default_rng(7))
    assert a == b
    rng = np.random.default_rng(1)
    changed = sum(fuzz.mutate(n, seeds[n], rng)[0] != seeds[n] for n in sorted(seeds) for _ in range(10))
    assert changed >= 60  # of 70: a mutation may, rarely, write back the byte it replaced


def test_mutated_audio_loads_or_raises_audio_error(fuzz) -> None:
    # sr=None: the parser, without resampling (a mutated rate of a few Hz makes resampling take
    # seconds; bench/fuzz.py resamples and reports such cases)
    result = fuzz.fuzz(280, seed=14, sr=None, slow=float("inf"))
    counts = result["counts"]
    assert result["examples"] == [] and set(counts) <= {"AudioError", "loaded"}, result
    assert sum(counts.values()) == 280
    # both outcomes occur: the mutations reach the error paths and leave some files readable
    assert counts.get("AudioError", 0) > 50 and counts.get("loaded", 0) > 20, counts
