"""Fuzz ``genrelab.audio.load`` with seeded mutations of small WAV, AU and FLAC files.

    PYTHONPATH=src python bench/fuzz.py [--n 10000] [--seed 0]

Mutations: byte flips (anywhere, or in the header), truncations, header fields set to edge
values (WAV channels/rate/block align/bits/chunk sizes, AU offset/size/encoding/rate/channels,
FLAC STREAMINFO bytes), garbage appended, and combinations of two or three of these. Each
mutated file must either load (finite float32 samples) or raise ``genrelab.errors.AudioError``;
anything else is counted with its first few examples. ``tests/test_fuzz.py`` runs a few hundred
of the same mutations in the test suite.
"""

from __future__ import annotations

import argparse
import collections
import io
import struct
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

SR = 22050

# (offset, width, endianness) of the header fields worth breaking, per format
WAV_FIELDS = [(4, 4, "<"), (16, 4, "<"), (20, 2, "<"), (22, 2, "<"), (24, 4, "<"), (28, 4, "<"), (32, 2, "<"),
              (34, 2, "<"), (40, 4, "<")]
AU_FIELDS = [(4, 4, ">"), (8, 4, ">"), (12, 4, ">"), (16, 4, ">"), (20, 4, ">")]
EDGE_VALUES = [0, 1, 2, 3, 7, 8, 255, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


def seed_files() -> dict[str, bytes]:
    """Small valid files: name -> bytes (a quarter second of a tone, mono and stereo)."""
    import soundfile as sf

    t = np.arange(SR // 4) / SR
    mono = (0.4 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    stereo = np.stack([mono, -mono], axis=1)
    specs = [
        ("pcm16.wav", mono, 22050, "WAV", "PCM_16"),
        ("float.wav", stereo, 44100, "WAV", "FLOAT"),
        ("pcm8.wav", mono, 8000, "WAV", "PCM_U8"),
        ("pcm16.au", mono, 22050, "AU", "PCM_16"),
        ("ulaw.au", stereo, 16000, "AU", "ULAW"),
        ("pcm16.flac", mono, 22050, "FLAC", "PCM_16"),
        ("pcm24.flac", stereo, 44100, "FLAC", "PCM_24"),
    ]
    out = {}
    for name, y, rate, fmt, subtype in specs:
        buf = io.BytesIO()
        sf.write(buf, y, rate, format=fmt, subtype=subtype)
        out[name] = buf.getvalue()
    return out


def _flip(data: bytearray, rng: np.random.Generator) -> str:
    head = rng.random() < 0.5
    hi = min(len(data), 64) if head else len(data)
    for _ in range(int(rng.integers(1, 9))):
        i = int(rng.integers(0, hi))
        data[i] ^= 1 << int(rng.integers(0, 8))
    return "flip-header" if head else "flip"


def _truncate(data: bytearray, rng: np.random.Generator) -> str:
    cut = int(rng.integers(0, len(data)))
    del data[cut:]
    return "truncate"


def _field(data: bytearray, rng: np.random.Generator, name: str) -> str:
    if name.endswith(".flac"):
        i = int(rng.integers(8, min(42, len(data))))  # STREAMINFO: block/frame sizes, rate, channels, bits, length
        data[i] = int(rng.integers(0, 256))
        return "field-flac"
    fields = WAV_FIELDS if name.endswith(".wav") else AU_FIELDS
    off, width, end = fields[int(rng.integers(len(fields)))]
    if off + width > len(data):
        return "field-skip"
    value = int(rng.choice(EDGE_VALUES)) if rng.random() < 0.7 else int(rng.integers(0, 2 ** (8 * width)))
    value &= (1 << (8 * width)) - 1
    data[off : off + width] = struct.pack(f"{end}{'H' if width == 2 else 'I'}", value)
    return "field"


def _append(data: bytearray, rng: np.random.Generator) -> str:
    if rng.random() < 0.2:
        data += bytes(data)
        return "append-copy"
    data += rng.integers(0, 256, size=int(rng.integers(1, 4097)), dtype=np.uint8).tobytes()
    return "append"


def mutate(name: str, original: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One mutation (or two or three in a row) of ``original``; the bytes and a label."""
    ops: list[Callable[[bytearray, np.random.Generator], str]] = [
        _flip,
        _truncate,
        lambda d, r: _field(d, r, name),
        _append,
    ]
    data = bytearray(original)
    labels = []
    for _ in range(1 if rng.random() < 0.6 else int(rng.integers(2, 4))):
        labels.append(ops[int(rng.integers(len(ops)))](data, rng))
    return bytes(data), "+".join(labels)


def run_case(path: Path, *, sr: int | None = SR) -> str:
    """``"loaded"``, ``"AudioError"`` or ``"bad output"``; any other exception propagates.

    ``sr=None`` skips resampling (the parser alone: what the fast test in the suite runs).
    """
    from genrelab.audio import load
    from genrelab.errors import AudioError

    try:
        y = load(path, sr=sr)
    except AudioError:
        return "AudioError"
    if y.dtype != np.float32 or y.ndim != 1 or y.size == 0 or not np.all(np.isfinite(y)):
        return "bad output"
    return "loaded"


def fuzz(n: int, *, seed: int = 0, sr: int | None = SR, examples: int = 5, slow: float = 1.0) -> dict[str, object]:
    """Run ``n`` mutations; counts per outcome, the first ``examples`` of anything else, and the
    first cases that took longer than ``slow`` seconds (a header field can make load slow)."""
    seeds = seed_files()
    names = sorted(seeds)
    rng = np.random.default_rng(seed)
    counts: collections.Counter[str] = collections.Counter()
    others: list[str] = []
    slow_cases: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(n):
            name = names[k % len(names)]
            data, label = mutate(name, seeds[name], rng)
            path = Path(tmp) / f"case{k}{Path(name).suffix}"
            path.write_bytes(data)
            t0 = time.perf_counter()
            try:
                outcome = run_case(path, sr=sr)
                counts[outcome] += 1
                if outcome == "bad output" and len(others) < examples:
                    others.append(f"case {k} ({name}, {label}): loaded, but {_describe(path, sr)}{_header(path)}")
                seconds = time.perf_counter() - t0
                if seconds > slow:
                    counts["slow"] += 1
                    if len(slow_cases) < examples:
                        slow_cases.append(f"case {k} ({name}, {label}): {outcome} in {seconds:.1f} s{_header(path)}")
            except Exception as exc:  # noqa: BLE001 - counting what escapes is the point
                counts["other"] += 1
                if len(others) < examples:
                    where = traceback.extract_tb(exc.__traceback__)[-1]
                    others.append(
                        f"case {k} ({name}, {label}): {type(exc).__name__}: {str(exc)[:160]} "
                        f"[{Path(where.filename).name}:{where.lineno}]"
                    )
            finally:
                path.unlink(missing_ok=True)
    return {"tried": n, "counts": dict(counts), "examples": others, "slow": slow_cases}


def _describe(path: Path, sr: int | None) -> str:
    """What is wrong with the samples ``load`` returned for ``path``."""
    from genrelab.audio import load

    y = load(path, sr=sr)
    finite = np.isfinite(y)
    return f"{y.dtype} {y.shape}, {int((~finite).sum())} non-finite, max |y| {np.abs(y[finite]).max(initial=0):.3g}"


def _header(path: Path) -> str:
    """`` (rate R Hz, C channels, S s)`` as libsndfile reads the header, for a slow case."""
    import soundfile as sf

    try:
        i = sf.info(str(path))
    except Exception:  # noqa: BLE001
        return ""
    return f" (header: {i.samplerate} Hz, {i.channels} channels, {i.duration:.3g} s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="mutations to try")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    t0 = time.perf_counter()
    result = fuzz(args.n, seed=args.seed)
    counts = result["counts"]
    assert isinstance(counts, dict)
    print(f"mutations tried: {result['tried']}")
    for key in ("AudioError", "loaded", "bad output", "other"):
        print(f"{key}: {counts.get(key, 0)}")
    for line in result["examples"]:  # type: ignore[attr-defined]
        print(f"  {line}")
    print(f"slower than 1 s (counted in the outcomes above too): {counts.get('slow', 0)}")
    for line in result["slow"]:  # type: ignore[attr-defined]
        print(f"  {line}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 1 if counts.get("other", 0) or counts.get("bad output", 0) else 0


if __name__ == "__main__":
    sys.exit(main())
