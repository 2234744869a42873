"""Filter banks kept on disk (genrelab.dsp.banks): same bits as librosa/scipy, damaged or stale entries recomputed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genrelab.dsp import banks, filters

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty bank folder for this test, and the in-memory caches of the filters cleared."""
    monkeypatch.setenv("GENRELAB_CACHE_DIR", str(tmp_path / "cache"))
    for f in (filters.mel_basis, filters.chroma_basis, filters.hann, filters.dct_basis):
        f.cache_clear()
    yield tmp_path / "cache" / "banks"
    for f in (filters.mel_basis, filters.chroma_basis, filters.hann, filters.dct_basis):
        f.cache_clear()


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.npz"))


def _never() -> np.ndarray:
    raise AssertionError("computed although the entry is on disk")


def test_an_entry_is_written_once_then_read(folder: Path) -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    got = banks.cached_array("t", {"n": 1}, lambda: a, shape=(2, 3), dtype=np.float32)
    assert np.array_equal(got, a) and len(_entries(folder)) == 1
    again = banks.cached_array("t", {"n": 1}, _never, shape=(2, 3), dtype=np.float32)
    assert np.array_equal(again, a) and again.dtype == np.float32
    assert not [p for p in folder.iterdir() if p.suffix != ".npz" or p.name.startswith(".")]  # no temporaries
    banks.cached_array("t", {"n": 2}, lambda: a + 1, shape=(2, 3), dtype=np.float32)  # other params: other entry
    assert len(_entries(folder)) == 2


@pytest.mark.parametrize("damage", ["truncated", "flipped", "garbage", "empty"])
def test_a_damaged_entry_is_computed_again_and_rewritten(folder: Path, damage: str) -> None:
    a = np.linspace(0, 1, 4000)
    banks.cached_array("t", {}, lambda: a, shape=(4000,), dtype=np.float64)
    (entry,) = _entries(folder)
    raw = bytearray(entry.read_bytes())
    if damage == "truncated":
        raw = raw[: len(raw) // 2]
    elif damage == "flipped":  # a byte of the array's data: the zip CRC catches it
        raw[len(raw) // 2] ^= 0xFF
    elif damage == "garbage":
        raw = bytearray(b"not a zip at all")
    else:
        raw = bytearray()
    entry.write_bytes(bytes(raw))
    calls = []
    got = banks.cached_array("t", {}, lambda: calls.append(1) or a, shape=(4000,), dtype=np.float64)
    assert calls == [1] and np.array_equal(got, a)
    assert np.array_equal(banks.cached_array("t", {}, _never, shape=(4000,), dtype=np.float64), a)  # rewritten


def test_an_entry_of_another_shape_or_dtype_is_not_used(folder: Path) -> None:
    banks.cached_array("t", {}, lambda: np.zeros(3), shape=(3,), dtype=np.float64)
    (entry,) = _entries(folder)
    np.savez(entry, a=np.zeros(4, dtype=np.float32))  # what another version might have left
    got = banks.cached_array("t", {}, lambda: np.ones(3), shape=(3,), dtype=np.float64)
    assert np.array_equal(got, np.ones(3))


def test_library_versions_are_part_of_the_key(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    banks.cached_array("t", {}, lambda: np.zeros(2), shape=(2,), dtype=np.float64)
    monkeypatch.setattr(banks, "library_versions", lambda: ("99.0", "1.0", "2.0"))
    got = banks.cached_array("t", {}, lambda: np.ones(2), shape=(2,), dtype=np.float64)  # an upgrade: recomputed
    assert np.array_equal(got, np.ones(2)) and len(_entries(folder)) == 2


def test_without_a_writable_folder_arrays_are_computed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("GENRELAB_CACHE_DIR", str(blocker))  # its banks/ subfolder cannot be made
    assert banks.bank_folder() is None
    got = banks.cached_array("t", {}, lambda: np.ones(2), shape=(2,), dtype=np.float64)
    assert np.array_equal(got, np.ones(2))


def test_a_computed_array_of_the_wrong_shape_is_an_error(folder: Path) -> None:
    with pytest.raises(ValueError, match="expected"):
        banks.cached_array("t", {}, lambda: np.ones(3), shape=(2,), dtype=np.float64)


def test_folder_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GENRELAB_CACHE_DIR", raising=False)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    assert banks.bank_folder() == tmp_path / "numba" / "genrelab-banks"
    monkeypatch.setenv("GENRELAB_CACHE_DIR", str(tmp_path / "mine"))
    assert banks.bank_folder() == tmp_path / "mine" / "banks"


def test_banks_are_librosa_and_scipy_bit_for_bit_fresh_and_from_disk(folder: Path) -> None:
    import librosa
    import scipy.fft
    import scipy.signal

    def expected() -> dict[str, np.ndarray]:
        return {
            "mel32": librosa.filters.mel(sr=22050, n_fft=2048, n_mels=128, dtype=np.float32),
            "mel64": librosa.filters.mel(sr=22050, n_fft=2048, n_mels=128, dtype=np.float64),
            "chroma": librosa.filters.chroma(sr=22050, n_fft=2048, tuning=-0.07),
            "hann32": scipy.signal.get_window("hann", 2048, fftbins=True).astype(np.float32),
            "hann344": scipy.signal.get_window("hann", 344, fftbins=True),
            "dct": scipy.fft.idct(np.eye(20), axis=0, type=2, norm="ortho", n=128),
        }

    def ours() -> dict[str, np.ndarray]:
        return {
            "mel32": filters.mel_basis(22050, 2048, 128, dtype=np.float32),
            "mel64": filters.mel_basis(22050, 2048, 128, dtype=np.float64),
            "chroma": filters.chroma_basis(22050, 2048, -0.07),
            "hann32": filters.hann(2048, dtype=np.float32),
            "hann344": filters.hann(344, dtype=np.float64),
            "dct": filters.dct_basis(128, 20),
        }

    want = expected()
    for round_ in ("computed", "read from disk"):
        got = ours()
        for name, a in want.items():
            assert got[name].dtype == a.dtype and np.array_equal(got[name], a), (round_, name)
            assert not got[name].flags.writeable
        for f in (filters.mel_basis, filters.chroma_basis, filters.hann, filters.dct_basis):
            f.cache_clear()
    assert len(_entries(folder)) == len(want)


PROBE = """
import json, sys
import numpy as np
from genrelab.features.engine import extract_features, warm_banks
if sys.argv[1] == "warm":
    print(json.dumps({"arrays": warm_banks()}))
else:
    y = (0.1 * np.random.default_rng(1).standard_normal(22050 * 4)).astype(np.float32)
    feats, _ = extract_features(y)
    print(json.dumps({"tempo": feats["tempo"], "loaded": [m for m in json.loads(sys.argv[2]) if m in sys.modules]}))
"""


def test_with_the_banks_on_disk_the_engine_imports_neither_librosa_nor_scipy_signal(tmp_path: Path) -> None:
    env = dict(os.environ, GENRELAB_CACHE_DIR=str(tmp_path), PYTHONPATH=str(SRC))
    heavy = ["librosa", "scipy.signal", "scipy.fft", "scipy.stats", "dask", "pyfftw.interfaces", "pandas"]

    def run(*args: str) -> dict:
        out = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert run("warm")["arrays"] == 105  # mel, 2 STFT windows, the tempo window, the DCT, 100 chroma banks
    res = run("extract", json.dumps(heavy))
    assert res["loaded"] == [] and res["tempo"] > 0
