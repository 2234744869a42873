"""The ten genres: tempo, groove, harmony, instrumentation and mix of each, as arrangement functions.

Each ``arrange_<genre>(rng, sr, n)`` writes a :class:`Score` and returns it with its
:class:`MixPlan`. Genres deliberately share parts where real ones do (power chords in rock and
metal, backbeats in pop/rock/disco, swing in blues and jazz, plucked guitars in blues/country/rock).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from genrelab.data.synth import instruments as ins
from genrelab.data.synth.grooves import GROOVES, DrumKit, Score, play_groove
from genrelab.data.synth.harmony import melody, prog, voicing
from genrelab.data.synth.mix import MixPlan
from genrelab.data.synth.parts import (
    bassline,
    chord_at,
    chord_spans,
    comp,
    lead_line,
    note,
    pad,
    power_chords,
    rap,
    stack,
)


def _key(rng: np.random.Generator, keys: tuple[int, ...] | None = None) -> int:
    return int(rng.choice(keys)) if keys else int(rng.integers(0, 12))


def _score(rng: np.random.Generator, sr: int, n: int, *, tempo: tuple[float, float], swing: tuple[float, float] = (0, 0),
           meter: int = 4, jitter: float = 0.004) -> Score:
    bpm = float(rng.uniform(*tempo))
    offset = float(rng.uniform(0, meter * 60 / bpm))
    return Score(sr=sr, n=n, rng=rng, bpm=bpm, swing=float(rng.uniform(*swing)), meter=meter, jitter=jitter, offset=offset)


def _pick(rng: np.random.Generator, options: list):
    return options[int(rng.integers(0, len(options)))]


def _common(rng: np.random.Generator, *, bright: float = 0.0, **kw) -> dict:
    """Mix settings every genre varies: noise floor (dB re the mix RMS) and spectral tilt around ``bright``."""
    base = dict(noise_db=float(rng.uniform(-62, -38)), tilt=float(np.clip(bright + rng.uniform(-0.4, 0.4), -0.9, 0.9)),
                bandwidth=float(rng.uniform(5000, 10000)) if rng.uniform() < 0.2 else 0.0,
                low_cut=float(rng.uniform(80, 250)) if rng.uniform() < 0.15 else 30.0)
    base.update(kw)
    return base


# ----------------------------------------------------------------------------- genres


def arrange_blues(rng: np.random.Generator, sr: int, n: int) -> tuple[Score, MixPlan]:
    s = _score(rng, sr, n, tempo=(70, 125), swing=(0.13, 0.167))
    key = _key(rng, (4, 9, 7, 0, 2, 10))
    twelve = "0:7 5:7 0:7 0:7 5:7 5:7 0:7 0:7 7:7 5:7 0:7 7:7" if rng.uniform() < 0.5 else \
             "0:7 0:7 0:7 0:7 5:7 5:7 0:7 0:7 7:7 5:7 0:7 7:7"
    spans = chord_spans(s, prog(twelve), start=int(rng.integers(0, 12)))
    kit = DrumKit(sr, rng, snare_decay=(0.12, 0.2))
    play_groove(s, kit, _pick(rng, GROOVES["blues"]), fill_every=12 if rng.uniform() < 0.5 else 4)
    bstyle = "walking" if rng.uniform() < 0.35 else "boogie"
    bassline(s, spans, key, style=bstyle, kind="upright" if bstyle == "walking" and rng.uniform() < 0.5 else "finger")
    gb = float(rng.uniform(0.3, 0.8))
    if rng.uniform() < 0.55:   # boogie-shuffle riff on the low strings
        for b0, length, c in spans:
            root = 40 + (key + c.root - 40) % 12
            for k in range(int(length * 2)):
                six = 9 if k % 4 in (1, 2) else 7
                for m in (root, root + six):
                    s.add("guitar", note(s, "pluck", m, 0.45, brightness=gb, decay=1.0), s.time(b0 + k * 0.5), 0.6)
    else:
        comp(s, "guitar", spans, key, inst="pluck", hits=[(1.0, 0.4, 1.0), (3.0, 0.4, 1.0), (3.5, 0.3, 0.6)],
             low=52, high=70, strum=0.012, brightness=gb, decay=1.5)
    if rng.uniform() < 0.5:
        comp(s, "keys", spans, key, inst="piano", hits=[(0.0, 0.4, 0.8), (0.5, 0.4, 0.6), (2.0, 0.4, 0.8), (2.5, 0.4, 0.6)],
             low=55, high=74, velocity=0.6)
    if rng.uniform() < 0.35:
        comp(s, "organ", spans, key, inst="organ", hits=[(0.0, 4.0, 1.0)], low=55, high=72)
    lead_inst = "pluck" if rng.uniform() < 0.7 else ("brass" if rng.uniform() < 0.5 else "voice")
    if rng.uniform() < 0.8:
        lead_line(s, "lead", spans, key, inst=lead_inst, scale="blues", low=57, high=81,
                  rhythm=(1 / 3, 2 / 3, 0.5, 1.0, 1.5), rest=0.25,
                  **({"brightness": 0.7, "decay": 2.0} if lead_inst == "pluck" else {}))
    drive = {"guitar": (float(rng.uniform(1.5, 4)), 4500.0)}   # a slightly overdriven amp
    if lead_inst == "pluck":
        drive["lead"] = (float(rng.uniform(2, 6)), 4000.0)
    plan = MixPlan(levels={"drums": -5, "bass": -5, "guitar": -6, "keys": -9, "organ": -12, "lead": -5},
                   sends={"drums": 0.1, "guitar": 0.2, "lead": 0.3, "keys": 0.2, "organ": 0.2},
                   drive=drive,
                   rt60=float(rng.uniform(0.6, 1.4)), master_drive=float(rng.uniform(0, 1.0)), **_common(rng, bright=-0.35))
    return s, plan


def arrange_jazz(rng: np.random.Generator, sr: int, n: int) -> tuple[Score, MixPlan]:
    s = _score(rng, sr, n, tempo=(90, 190), swing=(0.09, 0.16), jitter=0.006)
    key = _key(rng, (5, 10, 3, 0, 7, 1))
    spec = _pick(rng, ["2:m7 7:7 0:maj7 0:maj7", "2:m9 7:13 0:maj9 9:7b9", "0:maj7 9:m7 2:m7 7:7",
                       "2:m7b5 7:7b9 0:m7 0:m7", "0:6/9 9:m7 2:m9 7:13 4:m7 9:7 2:m7 7:7"])
    beats = 4.0 if s.bpm < 150 or rng.uniform() < 0.5 else 2.0
    spans = chord_spans(s, prog(spec, beats=beats), start=int(rng.integers(0, 4)))
    if rng.uniform() < 0.9:
        kit = DrumKit(sr, rng, ride_decay=(1.2, 2.0), snare_decay=(0.15, 0.25))
        play_groove(s, kit, _pick(rng, GROOVES["jazz"]), crash_every=0, fill_every=8,
                    levels={"snare": 0.4, "kick": 0.5, "hat": 0.3, "ride": 0.3})
    bassline(s, spans, key, style="walking", kind="upright" if rng.uniform() < 0.75 else "finger", low=31)
    rootless = lambda c: tuple(i for i in c.intervals() if i != 0) or c.intervals()  # noqa: E731
    charleston = [(0.0, 1.0, 1.0), (1.5, 0.6, 0.8)]
    syncop = [(0.5, 0.6, 0.8), (2.5, 1.0, 0.9)]
    inst = "piano" if rng.uniform() < 0.7 else "epiano"
    comp(s, "keys", spans, key, inst=inst, hits=_pick(rng, [charleston, syncop, charleston + [(3.5, 0.4, 0.6)]]),
         cycle=4.0, low=50, high=72, intervals=rootless,
         **({"velocity": 0.5} if inst == "piano" else {"index": float(rng.uniform(1, 2.5))}))
    if rng.uniform() < 0.75:
        li = _pick(rng, ["brass", "brass", "piano", "lead", "voice"])
        kw = {"shape": "sine"} if li == "lead" else ({"velocity": 0.7} if li == "piano" else {})
        lead_line(s, "lead", spans, key, inst=li, scale=_pick(rng, ["dorian", "mixolydian", "major", "blues"]),
                  low=60 if li != "brass" else 55, high=84, rhythm=(0.5, 0.5, 0.5, 1 / 3, 1.0, 1.5), rest=0.2, **kw)
    plan = MixPlan(levels={"drums": -7, "bass": -4, "keys": -7, "lead": -6},
                   sends={"drums": 0.15, "keys": 0.25, "lead": 0.3, "bass": 0.05},
                   lowpass={"drums": float(rng.uniform(5000, 9000))},
                   rt60=float(rng.uniform(0.8, 1.8)), dynamics_db=float(rng.uniform(0, 5)), **_common(rng, bright=-0.45))
    return s, plan


def arrange_country(rng: np.random.Generator, sr: int, n: int) -> tuple[Score, MixPlan]:
    s = _score(rng, sr, n, tempo=(85, 150), swing=(0.0, 0.07))
    key = _key(rng, (7, 0, 2, 9, 4))
    spec = _pick(rng, ["0:maj 0:maj 5:maj 0:maj 7:maj 7:maj 0:maj 0:maj", "0:maj 5:maj 7:maj 0:maj",
                       "0:maj 0:maj 5:maj 5:maj 0:maj 7:maj 0:maj 0:maj", "0:maj 5:maj 0:maj 7:7"])
    spans = chord_spans(s, prog(spec), start=int(rng.integers(0, 4)))
    kit = DrumKit(sr, rng, snare_decay=(0.08, 0.14), kick_decay=(0.15, 0.3))
    if rng.uniform() < 0.92:
        play_groove(s, kit, _pick(rng, GROOVES["country"]), fill_every=8, levels={"snare": 0.8})
    bassline(s, spans, key, style="root_fifth", kind="finger")
    strum = [(k * 0.5, 0.45, 1.0 if k % 2 == 0 else 0.7) for k in range(8)] if rng.uniform() < 0.5 else \
        [(1.0, 0.8, 1.0), (3.0, 0.8, 1.0), (3.5, 0.4, 0.6)]
    comp(s, "guitar", spans, key, inst="pluck", hits=strum, low=45, high=67, voices=6, strum=0.012,
         brightness=float(rng.uniform(0.6, 0.9)), decay=1.5, pick=0.15)
    if rng.uniform() < 0.35:
        comp(s, "keys", spans, key, inst="piano", hits=[(k * 0.5, 0.45, 0.8) for k in range(8)], low=60, high=79,
             velocity=0.6)
    r = rng.uniform()
    if r < 0.5:   # twangy chicken-picking
        lead_line(s, "lead", spans, key, inst="pluck", scale="major_pentatonic", low=57, high=81,
                  rhythm=(0.25, 0.25, 0.5, 0.5, 1.0), rest=0.25, brightness=0.97, decay=0.9, pick=0.07)
    elif r < 0.75:   # fiddle
        lead_line(s, "lead", spans, key, inst="brass", scale="major", low=62, high=86, rhythm=(0.5, 1.0, 1.5, 2.0),
                  rest=0.15, bright=0.4, vibrato=0.008)
    elif r < 0.95:
        lead_line(s, "vocal", spans, key, inst="voice", scale="major_pentatonic", low=55, high=72,
                  rhythm=(0.5, 1.0, 1.0, 1.5, 2.0), rest=0.15)
    plan = MixPlan(levels={"drums": -7, "bass": -5, "guitar": -5, "keys": -10, "lead": -5, "vocal": -4},
                   sends={"guitar": 0.15, "lead": 0.25, "vocal": 0.25, "drums": 0.1},
                   rt60=float(rng.uniform(0.5, 1.2)), master_drive=float(rng.uniform(0, 1.0)), **_common(rng, bright=-0.2))
    return s, plan


def arrange_disco(rng: np.random.Generator, sr: int, n: int) -> tuple[Score, MixPlan]:
    s = _score(rng, sr, n, tempo=(110, 132), jitter=0.002)
    key = _key(rng)
    spec = _pick(rng, ["0:m7*8 5:m7*8", "2:m7 7:7", "0:maj7 9:m7 2:m7 7:7", "0:m7 10:7 8:maj7 7:7", "0:m9*8 5:9*8"])
    spans = chord_spans(s, prog(spec), start=int(rng.integers(0, 4)))
    kit = DrumKit(sr, rng, kick_decay=(0.2, 0.35), hat_cut=(6500, 9000))
    play_groove(s, kit, _pick(rng, GROOVES["disco"]), fill_every=8, crash_every=8, levels={"kick": 1.0, "ohat": 0.7})
    bassline(s, spans, key, style="octave", kind="synth" if rng.uniform() < 0.5 else "finger", low=33)
    if rng.uniform() < 0.8:
        pad(s, "strings", spans, key, low=62, high=86, voices=4, detune=10.0, cutoff=float(rng.uniform(4000, 7000)),
            vibrato=0.003, attack_s=0.08)
    if rng.uniform() < 0.7:   # chicken-scratch guitar
        hits = [(k * 0.25, 0.12, 1.0 if k % 4 == 2 else 0.45) for k in range(16) if k % 4 != 0]
        comp(s, "guitar", spans, key, inst="muted", hits=hits, low=60, high=76, strum=0.004, brightness=0.6)
    if rng.uniform() < 0.5:
        comp(s, "keys", spans, key, inst="epiano", hits=[(0.5, 0.4, 0.9), (1.5, 0.4, 0.7), (2.5, 0.4, 0.9), (3.5, 0.4, 0.7)],
             low=55, high=74)
    if rng.uniform() < 0.3:
        comp(s, "brass", spans, key, inst="brass", hits=[(0.0, 0.3, 1.0), (2.5, 0.3, 0.9)], low=60, high=79, cycle=8.0)
    if rng.uniform() < 0.6:
        lead_line(s, "vocal", spans, key, inst="voice", scale="minor_pentatonic", low=62, high=79,
                  rhythm=(0.5, 1.0, 1.0, 1.5, 2.0), rest=0.2)
    plan = MixPlan(levels={"drums": -3, "bass": -4, "strings": -9, "guitar": -10, "keys": -10, "brass": -9, "vocal": -5},
                   sends={"strings": 0.3, "vocal": 0.25, "drums": 0.08, "keys": 0.2, "brass": 0.2},
                   rt60=float(rng.uniform(0.6, 1.3)), master_drive=float(rng.uniform(1.0, 2.5)), **_common(rng, bright=-0.1))
    return s, plan


def arrange_pop(rng: np.random.Generator, sr: int, n: int) -> tuple[Score, MixPlan]:
    s = _score(rng, sr, n, tempo=(92, 128), jitter=0.002)
    key = _key(rng)
    spec = _pick(rng, ["0:maj 7:maj 9:min 5:maj", "0:maj 7:maj 9:min 5:maj", "9:min 5:maj 0:maj 7:maj",
                       "0:maj 9:min 5:maj 7:maj", "0:maj 5:maj 9:min 7:sus4"])
    spans = chord_spans(s, prog(spec), start=int(rng.integers(0, 4)))
    kit = DrumKit(sr, rng, kick_decay=(0.25, 0.45))
    play_groove(s, kit, _pick(rng, GROOVES["pop"]), fill_every=8, crash_every=8, levels={"hat": 0.7})
    bassline(s, spans, key, style="root8" if rng.uniform() < 0.6 else "steps", kind="synth" if rng.uniform() < 0.6 else "finger",
             steps="x..x..x.x..x..x.")
    if rng.uniform() < 0.85:
        pad(s, "pad", spans, key, low=55, high=79, voices=4, detune=float(rng.uniform(10, 25)),
            cutoff=float(rng.uniform(2500, 6000)), attack_s=0.3)
    if rng.uniform() < 0.6:
        inst = "piano" if rng.uniform() < 0.6 else "epiano"
        comp(s, "keys", spans, key, inst=inst, hits=[(k, 0.9, 1.0 if k % 2 == 0 else 0.8) for k in range(4)],
             low=57, high=76, **({"velocity": 0.7} if inst == "piano" else {}))
    if rng.uniform() < 0.3:
        comp(s, "guitar", spans, key, inst="pluck", hits=[(k * 0.5, 0.45, 0.8) for k in range(8)], low=52, high=72,
             strum=0.01, brightness=0.6, decay=1.2)
    if rng.uniform() < 0.9:
        lead_line(s, "vocal", spans, key, inst="voice", scale="major_pentatonic", low=60, high=79,
                  rhythm=(0.5, 0.5, 1.0, 1.0, 1.5, 2.0), rest=0.15)
    if rng.uniform() < 0.5:
        lead_line(s, "lead", spans, key, inst="lead", scale="major_pentatonic", low=67, high=88,
                  rhythm=(0.5, 1.0, 1.5), rest=0.3, shape=_pick(rng, ["square", "saw"]), cutoff=float(rng.uniform(3000, 6000)))
    plan = MixPlan(levels={"drums": -3, "bass": -4, "pad": -8, "keys": -8, "guitar": -10, "vocal": -3, "lead": -9},
                   sends={"pad": 0.3, "vocal": 0.3, "lead": 0.3, "drums": 0.1, "keys": 0.2},
                   rt60=float(rng.uniform(0.8, 1.6)), master_drive=float(rng.uniform(1.5, 3.0)), **_common(rng, bright=0.7))
    return s, plan


def arrange_rock(rng: np.random.Generator, sr: int, n: int) -> tuple[Score, MixPlan]:
    s = _score(rng, sr, n, tempo=(98, 152))
    key = _key(rng, (4, 9, 2, 7, 0))
    spec = _pick(rng, ["0:5 5:5 7:5 5:5", "0:5 10:5 5:5 0:5", "9:5 5:5 0:5 7:5", "0:5 7:5 9:5 5:5", "0:5*8 5:5*4 7:5*4"])
    spans = chord_spans(s, prog(spec), start=int(rng.integers(0, 4)))
    kit = DrumKit(sr, rng, snare_decay=(0.15, 0.25))
    play_groove(s, kit, _pick(rng, GROOVES["rock"]), fill_every=4, crash_every=4)
    bassline(s, spans, key, style="root8", kind="finger")
    if rng.uniform() < 0.75:
        pat = _pick(rng, ["x.x.x.x.x.x.x.x.", "x.m.m.m.x.m.m.m.", "x.....x.x.....x.", "xxm.xxm.xxm.xxm."])
        power_chords(s, spans, key, pattern=pat, low=40, decay=1.5, muted_decay=0.25, brightness=float(rng.uniform(0.5, 0.8)))
    else:
        comp(s, "dist", spans, key, inst="pluck", intervals=lambda c: (0, 4, 7), hits=[(k * 0.5, 0.45, 1.0) for k in range(8)],
             low=45, high=67, voices=5, strum=0.008, brightness=0.6, decay=1.5)
    if rng.uniform() < 0.25:
        comp(s, "organ", spans, key, inst="organ", intervals=lambda c: (0, 4, 7), hits=[(0.0, 4.0, 1.0)], low=55, high=72)
    if rng.uniform() < 0.45:
        lead_line(s, "vocal", spans, key, inst="voice", scale="minor_pentatonic", low=57, high=76,
                  rhythm=(0.5, 1.0, 1.0, 1.5), rest=0.2)
    elif rng.uniform() < 0.6:
        lead_line(s, "lead", spans, key, inst="pluck", scale="minor_pentatonic", low=60, high=84,
                  rhythm=(0.25, 0.5, 0.5, 1.0), rest=0.2, brightness=0.7, decay=2.0)
    plan = MixPlan(levels={"drums": -3, "bass": -5, "dist": -4, "organ": -11, "vocal": -4, "lead": -5},
                   sends={"drums": 0.12, "dist": 0.12, "vocal": 0.2, "lead": 0.25, "organ": 0.15},
                   drive={"dist": (float(rng.uniform(3, 12)), float(rng.uniform(3500, 5500))),
                          "lead": (float(rng.uniform(4, 12)), 4500.0)},
                   rt60=float(rng.uniform(0.6, 1.4)), master_drive=float(rng.uniform(1.0, 3.0)), **_common(rng))
    return s, plan


def arrange_metal(rng: np.random.Generator, sr: int, n: int) -> tuple[Score, MixPlan]:
    groove_i = int(rng.integers(0, len(GROOVES["metal"])))
    tempo = (150, 200) if groove_i == 2 else (95, 175)
    s = _score(rng, sr, n, tempo=tempo, jitter=0.002)
    key = _key(rng, (4, 2, 1, 11))
    spec = _pick(rng, ["0:5 0:5 8:5 10:5", "0:5 1:5 0:5 3:5", "0:5 0:5 5:5 6:5", "0:5 3:5 5:5 3:5", "0:5*8 8:5*4 10:5*4"])
    spans = chord_spans(s, prog(spec, beats=float(rng.choice([2.0, 4.0]))), start=int(rng.integers(0, 4)))
    kit = DrumKit(sr, rng, kick_pitch=(50, 65), kick_decay=(0.12, 0.2), snare_decay=(0.15, 0.25))
    kit.s["kick"] = kit.s["kick"] + 0.3 * ins.highpass(kit.s["kick"], 2500, sr)   # clicky, triggered kick
    play_groove(s, kit, GROOVES["metal"][groove_i], fill_every=4, crash_every=2, levels={"kick": 0.9})
    pat = _pick(rng, ["mmmmmmmmmmmmmmmm", "x.mmx.mmx.mmmmmm", "mmm.mmm.mmm.mm.x", "x.......mmmmmmmm", "xmmmxmmmxmmmxmmm"])
    low = 35   # down-tuned: roots from B1 to E2
    power_chords(s, spans, key, pattern=pat, low=low, decay=2.0, muted_decay=0.18, brightness=float(rng.uniform(0.6, 0.9)))
    bassline(s, spans, key, style="steps", kind="finger", steps=pat.replace("m", "o"), low=low - 12)
    if rng.uniform() < 0.3:
        lead_line(s, "lead", spans, key, inst="pluck", scale=_pick(rng, ["harmonic_minor", "phrygian", "minor"]),
                  low=62, high=88, rhythm=(0.25, 0.25, 0.5), rest=0.1, brightness=0.8, decay=2.0)
    if rng.uniform() < 0.5:   # harsh vocal: noisy, formant-filtered shouts
        rap(s, low=50, density=0.35)
    plan = MixPlan(levels={"drums": -3, "bass": -7, "dist": -2, "lead": -6, "vocal": -6},
                   sends={"drums": 0.1, "dist": 0.08, "lead": 0.2, "vocal": 0.15},
                   drive={"dist": (float(rng.uniform(25, 90)), float(rng.uniform(4500, 7000))),
                          "lead": (float(rng.uniform(20, 60)), 5000.0), "vocal": (float(rng.uniform(5, 20)), 4000.0),
                          "bass": (float(rng.uniform(2, 6)), 3000.0)},
                   rt60=float(rng.uniform(0.5, 1.2)), master_drive=float(rng.uniform(1.0, 2.5)), **_common(rng))
    return s, plan


def arrange_hiphop(rng: np.random.Generator, sr: int, n: int) -> tuple[Score, MixPlan]:
    s = _score(rng, sr, n, tempo=(80, 100), swing=(0.0, 0.1), jitter=0.003)
    key = _key(rng)
    spec = _pick(rng, ["0:m7 5:m7", "0:m9*8 8:maj7*8", "0:min 10:maj 8:maj 7:min", "0:m7*8 7:m7*8", "0:min*8"])
    spans = chord_spans(s, prog(spec), start=int(rng.integers(0, 2)))
    kit = DrumKit(sr, rng, sub_kick=rng.uniform() < 0.5, snare_decay=(0.15, 0.25), kick_decay=(0.3, 0.5))
    groove = _pick(rng, GROOVES["hiphop"])
    play_groove(s, kit, groove, fill_every=0, crash_every=8, levels={"hat": 0.6, "kick": 1.0, "snare": 1.0})
    if rng.uniform() < 0.75:
        bassline(s, spans, key, style="steps", kind="sub", steps=groove["kick"], low=26)
    else:
        bassline(s, spans, key, style="whole", kind="finger", low=28)
    inst = _pick(rng, ["epiano", "piano", "organ", "stack"])
    if inst == "stack":
        pad(s, "keys", spans, key, low=55, high=74, voices=4, detune=6.0, cutoff=2000.0, attack_s=0.05)
    else:
        comp(s, "keys", spans, key, inst=inst, hits=_pick(rng, [[(0.0, 1.4, 1.0), (1.5, 1.0, 0.8)], [(0.0, 3.5, 1.0)],
                                                                 [(0.5, 0.5, 0.9), (2.0, 1.5, 1.0), (3.5, 0.4, 0.7)]]),
             low=55, high=76, **({"velocity": 0.5} if inst == "piano" else {}))
    if rng.uniform() < 0.85:
        rap(s, low=int(rng.integers(45, 55)), density=float(rng.uniform(0.55, 0.9)))
    plan = MixPlan(levels={"drums": -2, "bass": -3, "keys": -9, "vocal": -3},
                   sends={"keys": 0.15, "vocal": 0.08, "drums": 0.05},
                   lowpass={"keys": float(rng.uniform(1800, 3500))},
                   rt60=float(rng.uniform(0.3, 0.8)), master_drive=float(rng.uniform(1.0, 3.0)),
                   crackle=float(rng.uniform(0, 15)) if rng.uniform() < 0.5 else 0.0, **_common(rng))
    return s, plan


def arrange_reggae(rng: np.random.Generator, sr: int, n: int) -> tuple[Score, MixPlan]:
    s = _score(rng, sr, n, tempo=(66, 92), swing=(0.03, 0.12))
    key = _key(rng)
    spec = _pick(rng, ["0:maj 5:maj", "0:min 5:min", "0:maj 5:maj 7:maj 5:maj", "9:min 7:maj", "0:maj*8 5:maj*8"])
    spans = chord_spans(s, prog(spec), start=int(rng.integers(0, 2)))
    kit = DrumKit(sr, rng, kick_decay=(0.25, 0.4), snare_decay=(0.1, 0.18))
    play_groove(s, kit, _pick(rng, GROOVES["reggae"][:2] * 3 + GROOVES["reggae"][2:]), fill_every=8, crash_every=8)
    bassline(s, spans, key, style="reggae", kind="sub" if rng.uniform() < 0.4 else "finger", low=28)
    skank = [(0.5 + k, 0.15, 1.0) for k in range(4)]
    comp(s, "guitar", spans, key, inst="muted", hits=skank, low=60, high=76, strum=0.006, brightness=0.7, decay=0.15)
    if rng.uniform() < 0.6:   # organ bubble
        comp(s, "organ", spans, key, inst="organ", hits=[(k + 0.5, 0.2, 0.9) for k in range(4)] + [(k + 0.75, 0.2, 0.6) for k in range(4)],
             low=52, high=67)
    if rng.uniform() < 0.6:
        lead_line(s, "vocal", spans, key, inst="voice", scale="major_pentatonic" if ":maj" in spec else "minor_pentatonic",
                  low=57, high=74, rhythm=(0.5, 1.0, 1.0, 1.5, 2.0), rest=0.25)
    plan = MixPlan(levels={"drums": -5, "bass": -2, "guitar": -9, "organ": -12, "vocal": -5},
                   sends={"drums": 0.15, "guitar": 0.25, "vocal": 0.25, "organ": 0.2},
                   delay={"guitar": (60 / s.bpm * 0.75, float(rng.uniform(0.2, 0.5)))} if rng.uniform() < 0.5 else {},
                   lowpass={"bass": 600.0},
                   rt60=float(rng.uniform(0.6, 1.5)), master_drive=float(rng.uniform(0.0, 1.5)), **_common(rng))
    return s, plan


def arrange_classical(rng: np.random.Generator, sr: int, n: int) -> tuple[Score, MixPlan]:
    meter = 3 if rng.uniform() < 0.3 else 4
    s = _score(rng, sr, n, tempo=(56, 116), meter=meter, jitter=0.012)
    key = _key(rng)
    minor = rng.uniform() < 0.4
    spec = _pick(rng, ["0:min 5:min 7:7 0:min", "0:min 8:maj 2:dim 7:7", "0:min 3:maj 5:min 7:7"] if minor else
                 ["0:maj 5:maj 7:7 0:maj", "0:maj 9:min 2:min 7:7", "0:maj 4:min 5:maj 7:maj 0:maj 5:maj 2:min 7:7",
                  "0:maj 7:maj 9:min 4:min 5:maj 0:maj 5:maj 7:7"])
    bar = float(meter) * (2 if rng.uniform() < 0.4 else 1)
    spans = chord_spans(s, prog(spec, beats=bar), start=int(rng.integers(0, 4)))
    scale = "harmonic_minor" if minor else "major"
    texture = _pick(rng, ["strings", "piano", "chamber", "strings"])
    if texture in ("strings", "chamber"):
        pad(s, "strings", spans, key, low=48, high=76, voices=4, detune=6.0, cutoff=float(rng.uniform(2000, 4000)),
            vibrato=0.004, attack_s=float(rng.uniform(0.2, 0.6)))
        for b0, length, c in spans:   # cellos / basses holding the root
            root = 36 + (key + c.root - 36) % 12
            s.add("bass", stack(s, [root], length, voices=2, detune=5.0, cutoff=1200.0, vibrato=0.003, attack_s=0.15),
                  s.time(b0, human=False), 1.0)
    if texture in ("piano", "chamber"):
        prev = None
        arp = _pick(rng, [(0, 2, 1, 2), (0, 1, 2, 1), (0, 1, 2, 3, 2, 1)])
        step = 0.5 if rng.uniform() < 0.7 else 1 / 3 * 2
        for b0, length, c in spans:
            v = voicing(prev, c.pcs(key), low=43, high=62, voices=4)
            prev = v
            k = 0
            while k * step < length:
                m = v[arp[k % len(arp)] % len(v)]
                s.add("piano", note(s, "piano", m, step * 2.5, velocity=0.5), s.time(b0 + k * step), 0.6)
                k += 1
    li = _pick(rng, ["strings", "piano", "lead", "brass"]) if texture != "piano" else "piano"
    if li == "strings":
        f = chord_at(spans, key)
        for b, dur, m in melody(rng, key=key, scale=scale, low=67, high=88, beats=s.beats, rhythm=(1.0, 1.5, 2.0, 0.5),
                                chord_at=f, rest=0.1):
            s.add("lead", stack(s, [m], dur * 0.95, voices=2, detune=4.0, cutoff=5000.0, vibrato=0.006, attack_s=0.08),
                  s.time(b), 0.8)
    else:
        kw = {"velocity": 0.6} if li == "piano" else ({"shape": "sine"} if li == "lead" else {"bright": 0.3})
        lead_line(s, "lead", spans, key, inst=li, scale=scale, low=62 if li != "brass" else 55, high=86,
                  rhythm=(0.5, 1.0, 1.0, 1.5, 2.0), rest=0.1, **kw)
    plan = MixPlan(levels={"strings": -6, "bass": -10, "piano": -5, "lead": -6},
                   sends={"strings": 0.45, "piano": 0.35, "lead": 0.4, "bass": 0.3},
                   rt60=float(rng.uniform(1.4, 2.8)), dynamics_db=float(rng.uniform(8, 22)),
                   **_common(rng, noise_db=float(rng.uniform(-70, -45))))
    return s, plan


ARRANGERS: dict[str, Callable[[np.random.Generator, int, int], tuple[Score, MixPlan]]] = {
    "blues": arrange_blues, "classical": arrange_classical, "country": arrange_country, "disco": arrange_disco,
    "hiphop": arrange_hiphop, "jazz": arrange_jazz, "metal": arrange_metal, "pop": arrange_pop,
    "reggae": arrange_reggae, "rock": arrange_rock,
}
