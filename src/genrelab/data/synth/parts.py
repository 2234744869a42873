"""Parts that arrangements are built from: chord timelines, notes, comping, pads, bass lines,
melodies, rap, power chords. Every function writes into a :class:`Score` bus."""

from __future__ import annotations

from typing import Callable

import numpy as np

from genrelab.data.synth import instruments as ins
from genrelab.data.synth.grooves import Score
from genrelab.data.synth.harmony import Chord, melody, voicing

Span = tuple[float, float, Chord]  # (start beat, length in beats, chord)

_RELEASE = {
    "pluck": 0.08,
    "piano": 0.25,
    "organ": 0.04,
    "epiano": 0.15,
    "brass": 0.08,
    "lead": 0.08,
    "bass": 0.05,
    "voice": 0.06,
    "muted": 0.02,
}


def chord_spans(score: Score, chords: list[Chord], *, start: int = 0) -> list[Span]:
    """Repeat ``chords`` from index ``start`` until the clip is covered."""
    spans, pos, i = [], 0.0, start
    while pos < score.beats:
        c = chords[i % len(chords)]
        spans.append((pos, c.beats, c))
        pos += c.beats
        i += 1
    return spans


def chord_at(spans: list[Span], key: int) -> Callable[[float], list[int]]:
    """``beat -> pitch classes`` of the chord sounding at that beat."""

    def f(beat: float) -> list[int]:
        for b0, length, c in spans:
            if b0 <= beat < b0 + length:
                return c.pcs(key)
        return spans[-1][2].pcs(key)

    return f


def note(score: Score, inst: str, midi: int, beats: float, **kw) -> np.ndarray:
    """One rendered, gated note of ``inst`` lasting ``beats`` beats (memoised per clip)."""
    hold = score.samples(beats)
    rel = _RELEASE.get(inst, 0.05)
    key = (inst, int(midi), hold, tuple(sorted(kw.items())))

    def make() -> np.ndarray:
        n = hold + int(4 * rel * score.sr)
        f = ins.hz(midi)
        if inst == "pluck":
            y = ins.karplus_strong(f, n, score.sr, score.rng, **kw)
        elif inst == "muted":
            y = ins.karplus_strong(f, n, score.sr, score.rng, **{"decay": 0.12, "brightness": 0.4, **kw})
        else:
            y = getattr(ins, inst)(f, n, score.sr, score.rng, **kw)
        return ins.gate(y, hold, score.sr, release=rel)

    return score.note(key, make)


def stack(score: Score, midis: list[int], beats: float, **kw) -> np.ndarray:
    """A sustained detuned-saw chord (strings, pads) lasting ``beats`` beats (memoised)."""
    hold = score.samples(beats)
    key = ("stack", tuple(midis), hold, tuple(sorted(kw.items())))

    def make() -> np.ndarray:
        n = hold + int(0.4 * score.sr)
        y = ins.saw_stack([ins.hz(m) for m in midis], n, score.sr, score.rng, **kw)
        return ins.gate(y, hold, score.sr, release=0.12)

    return score.note(key, make)


def comp(
    score: Score,
    bus: str,
    spans: list[Span],
    key: int,
    *,
    inst: str,
    hits: list[tuple[float, float, float]],
    low: int,
    high: int,
    voices: int | None = None,
    cycle: float = 4.0,
    strum: float = 0.0,
    intervals: Callable[[Chord], tuple[int, ...]] | None = None,
    gain: float = 1.0,
    **kw,
) -> None:
    """Chords on a rhythm: ``hits`` = [(offset beat, length beats, velocity)] repeating every ``cycle``
    beats within each chord; voicings move smoothly; ``strum`` seconds between strings."""
    prev = None
    for b0, length, c in spans:
        iv = intervals(c) if intervals else c.intervals()
        pcs = sorted({(key + c.root + i) % 12 for i in iv})
        v = voicing(prev, pcs, low=low, high=high, voices=voices)
        prev = v
        base = 0.0
        while base < length:
            for off, dur, vel in hits:
                if base + off >= length:
                    continue
                t = score.time(b0 + base + off)
                direction = 1 if score.rng.uniform() < 0.6 else -1
                for j, m in enumerate(v[::direction]):
                    y = note(score, inst, m, min(dur, length - base - off), **kw)
                    score.add(bus, y, t + j * strum, gain * vel * score.rng.uniform(0.8, 1.0) / np.sqrt(len(v)))
            base += cycle


def pad(
    score: Score,
    bus: str,
    spans: list[Span],
    key: int,
    *,
    low: int,
    high: int,
    voices: int = 4,
    gain: float = 1.0,
    **kw,
) -> None:
    """Sustained chords (strings, synth pads) held for each chord's length."""
    prev = None
    for b0, length, c in spans:
        v = voicing(prev, c.pcs(key), low=low, high=high, voices=voices)
        prev = v
        score.add(bus, stack(score, v, length, **kw), score.time(b0, human=False), gain)


def bassline(
    score: Score,
    spans: list[Span],
    key: int,
    *,
    style: str,
    kind: str,
    gain: float = 1.0,
    low: int = 28,
    steps: str | None = None,
) -> None:
    """Bass parts: ``root8`` (rock/pop eighths), ``octave`` (disco), ``boogie`` (blues shuffle),
    ``walking`` (jazz), ``root_fifth`` (country), ``steps`` (a 16-step pattern, e.g. the kick),
    ``reggae`` (melodic with rests), ``whole`` (held roots)."""
    rng = score.rng
    for si, (b0, length, c) in enumerate(spans):
        root = low + (key + c.root - low) % 12
        iv = c.intervals()
        third = iv[1] if len(iv) > 1 else 4
        events: list[tuple[float, float, int, float]] = []  # (beat offset, length, midi, vel)
        if style == "root8":
            events = [
                (k * 0.5, 0.45, root + (12 if rng.uniform() < 0.1 else 0), 1.0 if k % 2 == 0 else 0.8)
                for k in range(int(length * 2))
            ]
        elif style == "octave":
            events = [(k * 0.5, 0.4, root + 12 * (k % 2), 1.0 if k % 2 == 0 else 0.85) for k in range(int(length * 2))]
        elif style == "boogie":
            riff = (0, third, 7, 9, 10, 9, 7, third)
            events = [(k * 0.5, 0.5, root + riff[k % 8], 1.0 if k % 2 == 0 else 0.8) for k in range(int(length * 2))]
        elif style == "walking":
            nxt = spans[si + 1][2] if si + 1 < len(spans) else c
            nroot = low + (key + nxt.root - low) % 12
            for k in range(int(length)):
                if k == 0:
                    m = root
                elif k == int(length) - 1:
                    m = nroot + int(rng.choice([-1, 1, -2]))
                else:
                    m = root + int(rng.choice([iv[1 % len(iv)], 7, iv[-1] % 12, 2, 5, 12]))
                events.append((float(k), 0.95, m, 0.9 + 0.1 * (k == 0)))
        elif style == "root_fifth":
            events = [
                (float(k), 0.9, root if k % 2 == 0 else root + 7 - 12 * (root + 7 > low + 14), 1.0)
                for k in range(0, int(length), 2)
            ]
        elif style == "steps":
            pat = steps or "x.......x......."
            hits = [i for i, ch in enumerate(pat) if ch != "."]
            base = 0.0
            while base < length:
                for j, i in enumerate(hits):
                    nxt = hits[j + 1] if j + 1 < len(hits) else len(pat)
                    m = root + (7 if rng.uniform() < 0.12 else 0)
                    events.append((base + i / 4, (nxt - i) / 4 * 0.95, m, 1.0 if pat[i] == "x" else 0.8))
                base += len(pat) / 4
        elif style == "reggae":
            choices = (0, 0, 7, iv[1], 12, 10 if 10 in iv or iv[1] == 3 else 9)
            base = 0.0
            while base < length:
                for off in (0.0, 0.75, 1.5, 2.0, 2.5, 3.0):
                    if rng.uniform() < (0.3 if off == 0.0 else 0.75):
                        events.append((base + off, 0.45, root + int(rng.choice(choices)), 1.0))
                base += 4.0
        else:  # whole
            events = [(0.0, length, root, 1.0)]
        for off, dur, m, vel in events:
            if off < length:
                score.add("bass", note(score, "bass", m, dur, kind=kind), score.time(b0 + off), gain * vel)


def lead_line(
    score: Score,
    bus: str,
    spans: list[Span],
    key: int,
    *,
    inst: str,
    scale: str,
    low: int,
    high: int,
    rhythm: tuple[float, ...],
    rest: float = 0.2,
    gain: float = 1.0,
    legato: float = 0.9,
    phrase: float = 8.0,
    **kw,
) -> None:
    """A melody in phrases of ``phrase`` beats separated by breaths, rendered on ``inst``."""
    rng = score.rng
    f = chord_at(spans, key)
    notes = melody(
        rng, key=key, scale=scale, low=low, high=high, beats=score.beats, rhythm=rhythm, chord_at=f, rest=rest
    )
    for b, dur, m in notes:
        if (b % (2 * phrase)) >= phrase * 1.5:  # breathe: a quarter of every two phrases is silent
            continue
        if inst == "voice":
            kw = {**kw, "vowel": str(rng.choice(ins.VOWELS))}
        y = note(score, inst, m, dur * legato, **kw)
        score.add(bus, y, score.time(b), gain * rng.uniform(0.8, 1.0))


def rap(score: Score, *, low: int, gain: float = 1.0, density: float = 0.8) -> None:
    """Rhythmic spoken syllables on sixteenths, near one pitch, in two-bar phrases with gaps."""
    rng = score.rng
    for bar in range(score.bars):
        if bar % 4 == 3 and rng.uniform() < 0.6:
            continue
        for s in range(16):
            if rng.uniform() > density * (1.0 if s % 2 == 0 else 0.7):
                continue
            m = low + int(rng.choice([0, 0, 2, 3, -2]))
            dur = 0.25 * rng.choice([1, 1, 2])
            y = note(score, "voice", m, dur * 0.8, vowel=str(rng.choice(ins.VOWELS)), breath=0.5, vibrato=0.0)
            score.add("vocal", y, score.time(bar * 4 + s / 4), gain * (1.0 if s % 4 == 0 else 0.75))


def power_chords(
    s: Score,
    spans: list[Span],
    key: int,
    *,
    pattern: str,
    low: int,
    decay: float,
    muted_decay: float,
    brightness: float,
    bus: str = "dist",
) -> None:
    """Power chords (root, fifth, octave) on a 16-step pattern: ``x`` open, ``m`` palm-muted."""
    for b0, length, c in spans:
        root = low + (key + c.root - low) % 12
        base = 0.0
        while base < length:
            for i, ch in enumerate(pattern):
                off = base + i / 4
                if ch == "." or off >= length:
                    continue
                nxt = next((j for j in range(i + 1, len(pattern)) if pattern[j] != "."), len(pattern))
                dur = (nxt - i) / 4 * 0.95
                dk = muted_decay if ch == "m" else decay
                t = s.time(b0 + off)
                for j, m in enumerate((root, root + 7, root + 12)):
                    y = note(s, "pluck", m, dur, brightness=brightness, decay=dk)
                    s.add(bus, y, t + 0.003 * j, 0.6 if ch == "m" else 1.0)
            base += len(pattern) / 4
