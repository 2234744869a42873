"""Harmony: scales, chord qualities, progressions in semitone degrees, voice leading, melodies."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "major_pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
}

QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "sus4": (0, 5, 7),
    "5": (0, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "m7b5": (0, 3, 6, 10),
    "6": (0, 4, 7, 9),
    "9": (0, 4, 7, 10, 14),
    "m9": (0, 3, 7, 10, 14),
    "maj9": (0, 4, 7, 11, 14),
    "13": (0, 4, 10, 14, 21),
    "7b9": (0, 4, 10, 13),
    "6/9": (0, 4, 9, 14),
}


@dataclass(frozen=True)
class Chord:
    """A chord: ``root`` in semitones above the key, a quality name, and its length in beats."""

    root: int
    quality: str
    beats: float

    def pcs(self, key: int) -> list[int]:
        """Pitch classes (0..11) of the chord in ``key``."""
        return sorted({(key + self.root + i) % 12 for i in QUALITIES[self.quality]})

    def intervals(self) -> tuple[int, ...]:
        return QUALITIES[self.quality]


def prog(spec: str, *, beats: float = 4.0) -> list[Chord]:
    """Parse ``"0:maj 7:maj 9:min 5:maj"`` (root semitones : quality[ * beats]) into chords."""
    out = []
    for tok in spec.split():
        root, rest = tok.split(":")
        q, _, b = rest.partition("*")
        out.append(Chord(int(root), q, float(b) if b else beats))
    return out


def voicing(prev: list[int] | None, pcs: list[int], *, low: int, high: int, voices: int | None = None) -> list[int]:
    """Place pitch classes as MIDI notes in ``[low, high]`` moving as little as possible from ``prev``.

    Every combination of one octave per pitch class (plus doublings up to ``voices``) is tried;
    the one with the smallest total movement from ``prev`` (sorted, voice by voice) wins, or the
    most compact one near the middle of the range when there is no ``prev``.
    """
    voices = voices or len(pcs)
    pcs_v = [pcs[i % len(pcs)] for i in range(voices)]
    options = []
    for pc in pcs_v:
        opts = [m for m in range(low, high + 1) if m % 12 == pc]
        options.append(opts or [low + (pc - low) % 12])
    best, best_cost = None, np.inf
    centre = (low + high) / 2
    for combo in product(*options):
        notes = sorted(combo)
        if len(set(notes)) < len(notes):
            continue
        if prev:
            p = sorted(prev)
            k = min(len(p), len(notes))
            cost = sum(abs(a - b) for a, b in zip(notes[:k], p[:k])) + 0.3 * (notes[-1] - notes[0])
        else:
            cost = (notes[-1] - notes[0]) + abs(np.mean(notes) - centre) * 0.5
        if cost < best_cost:
            best, best_cost = notes, cost
    return list(best) if best else sorted(low + (pc - low) % 12 for pc in pcs_v)


def melody(
    rng: np.random.Generator,
    *,
    key: int,
    scale: str,
    low: int,
    high: int,
    beats: float,
    rhythm: tuple[float, ...],
    chord_at,
    rest: float = 0.15,
    leap: float = 0.15,
    start: float = 0.0,
) -> list[tuple[float, float, int]]:
    """A random-walk melody over ``beats`` beats: ``[(start_beat, length_beats, midi), ...]``.

    Steps move along the scale, with occasional leaps; on downbeats the note is pulled to a
    tone of the chord sounding then (``chord_at(beat) -> pitch classes``). Lengths come from
    ``rhythm``; ``rest`` is the chance of a rest instead of a note.
    """
    degrees = [m for m in range(low, high + 1) if (m - key) % 12 in SCALES[scale]]
    if not degrees:
        return []
    i = len(degrees) // 2
    out = []
    pos = start
    while pos < beats:
        dur = float(rng.choice(rhythm))
        if rng.uniform() < rest:
            pos += dur
            continue
        step = int(rng.choice([-2, -1, -1, 1, 1, 2])) if rng.uniform() > leap else int(rng.choice([-4, -3, 3, 4]))
        i = int(np.clip(i + step, 0, len(degrees) - 1))
        note = degrees[i]
        if abs(pos - round(pos)) < 1e-6 and rng.uniform() < 0.7:
            tones = chord_at(pos)
            near = [j for j, m in enumerate(degrees) if m % 12 in tones]
            if near:
                i = min(near, key=lambda j: abs(j - i))
                note = degrees[i]
        out.append((pos, dur, note))
        pos += dur
    return out
