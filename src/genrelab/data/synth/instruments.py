"""Synthesised instruments: each function returns one note or hit as float64 samples ``(n,)``.

Everything is numpy/scipy: drums from noise and pitched sweeps, Karplus-Strong plucks
(block-wise, no per-sample Python loop), additive piano/organ/bass, FM electric piano,
detuned-saw strings and pads, brass and leads. Outputs peak at roughly 1.0; the caller scales.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import signal


def hz(midi: float) -> float:
    """Frequency in Hz of a MIDI note number."""
    return 440.0 * 2.0 ** ((float(midi) - 69.0) / 12.0)


@functools.lru_cache(maxsize=512)
def _sos(kind: str, cutoff: float | tuple[float, float], sr: int, order: int) -> np.ndarray:
    nyq = sr / 2.0
    if kind == "bandpass":
        lo, hi = cutoff  # type: ignore[misc]
        hi = min(hi, 0.95 * nyq)
        lo = min(max(lo, 20.0), 0.8 * hi)
        wn: float | list[float] = [lo, hi]
    else:
        wn = min(max(float(cutoff), 20.0), 0.95 * nyq)  # type: ignore[arg-type]
    return signal.butter(order, wn, btype=kind, fs=sr, output="sos")


def lowpass(x: np.ndarray, cutoff: float, sr: int, order: int = 2) -> np.ndarray:
    """Butterworth low-pass; ``cutoff`` is clipped below Nyquist."""
    return signal.sosfilt(_sos("lowpass", round(float(cutoff), 1), sr, order), x)


def highpass(x: np.ndarray, cutoff: float, sr: int, order: int = 2) -> np.ndarray:
    """Butterworth high-pass; ``cutoff`` is clipped below Nyquist."""
    return signal.sosfilt(_sos("highpass", round(float(cutoff), 1), sr, order), x)


def bandpass(x: np.ndarray, lo: float, hi: float, sr: int, order: int = 2) -> np.ndarray:
    """Butterworth band-pass between ``lo`` and ``hi`` Hz (clipped below Nyquist)."""
    return signal.sosfilt(_sos("bandpass", (round(float(lo), 1), round(float(hi), 1)), sr, order), x)


def _t(n: int, sr: int) -> np.ndarray:
    return np.arange(n) / sr


def _norm(y: np.ndarray) -> np.ndarray:
    p = np.max(np.abs(y)) if y.size else 0.0
    return y / p if p > 0 else y


def gate(y: np.ndarray, hold: int, sr: int, *, release: float = 0.05) -> np.ndarray:
    """Cut a note ``hold`` samples after its start with an exponential release; returns a shorter copy."""
    n_rel = int(release * sr * 4)
    end = min(len(y), hold + n_rel)
    y = y[:end].copy()
    if hold < end:
        y[hold:] *= np.exp(-np.arange(end - hold) / (release * sr))
    return y


def attack(y: np.ndarray, sr: int, seconds: float) -> np.ndarray:
    """Apply a linear fade-in of ``seconds`` (in place) and return ``y``."""
    k = min(len(y), max(1, int(seconds * sr)))
    y[:k] *= np.linspace(0.0, 1.0, k)
    return y


# ----------------------------------------------------------------------------- drums


def kick(
    sr: int,
    rng: np.random.Generator,
    *,
    pitch: float = 52.0,
    sweep: float = 170.0,
    decay: float = 0.3,
    click: float = 0.4,
) -> np.ndarray:
    """Bass drum: a sine swept from ``sweep`` down to ``pitch`` Hz plus a noise click."""
    n = int(sr * min(2.0, 5 * decay))
    t = _t(n, sr)
    f = pitch + (sweep - pitch) * np.exp(-t / 0.03)
    y = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / decay)
    y += click * lowpass(rng.standard_normal(n), 4000, sr) * np.exp(-t / 0.004)
    return _norm(y)


def snare(
    sr: int,
    rng: np.random.Generator,
    *,
    tone: float = 190.0,
    decay: float = 0.15,
    snappy: float = 0.7,
    bright: float = 7000.0,
) -> np.ndarray:
    """Snare: two damped tones for the shell and band-passed noise for the wires."""
    n = int(sr * 5 * decay)
    t = _t(n, sr)
    body = np.sin(2 * np.pi * tone * t) * np.exp(-t / 0.04) + 0.5 * np.sin(2 * np.pi * 1.6 * tone * t) * np.exp(
        -t / 0.025
    )
    wires = bandpass(rng.standard_normal(n), 1200, bright, sr) * np.exp(-t / decay)
    return _norm((1 - snappy) * body + snappy * 2.0 * wires)


def clap(sr: int, rng: np.random.Generator, *, decay: float = 0.12) -> np.ndarray:
    """Hand clap: three quick band-passed noise bursts and a tail."""
    n = int(sr * 5 * decay)
    t = _t(n, sr)
    env = np.exp(-t / decay)
    for k in range(3):
        env += (t >= 0.011 * k) * np.exp(-np.clip(t - 0.011 * k, 0, None) / 0.004) * (t < 0.011 * (k + 1))
    return _norm(bandpass(rng.standard_normal(n), 900, 2800, sr) * env)


def rim(sr: int, rng: np.random.Generator, *, tone: float = 480.0) -> np.ndarray:
    """Rim shot / cross-stick: a short woody tone and a bright click."""
    n = int(sr * 0.12)
    t = _t(n, sr)
    y = np.sin(2 * np.pi * tone * t) * np.exp(-t / 0.012) + bandpass(rng.standard_normal(n), 1500, 5000, sr) * np.exp(
        -t / 0.006
    )
    return _norm(y)


def hat(sr: int, rng: np.random.Generator, *, decay: float = 0.03, cutoff: float = 7000.0) -> np.ndarray:
    """Hi-hat: high-passed noise plus inharmonic square partials; long ``decay`` = open hat."""
    n = int(sr * min(1.5, 6 * decay + 0.01))
    t = _t(n, sr)
    metal = sum(np.sign(np.sin(2 * np.pi * f * t)) for f in (205.3, 304.4, 369.6, 522.7, 540.0, 800.0))
    y = highpass(0.6 * rng.standard_normal(n) + 0.15 * metal, cutoff, sr, order=4) * np.exp(-t / decay)
    return _norm(y)


def ride(sr: int, rng: np.random.Generator, *, decay: float = 1.2, bell: float = 0.3) -> np.ndarray:
    """Ride cymbal: a bell of inharmonic partials over a long high-passed noise wash."""
    n = int(sr * min(3.0, 3 * decay))
    t = _t(n, sr)
    partials = sum(np.sin(2 * np.pi * f * t + k) for k, f in enumerate((531.0, 1243.0, 2461.0, 3317.0, 4720.0)))
    wash = highpass(rng.standard_normal(n), 4500, sr, order=2)
    y = (bell * partials * np.exp(-t / (0.4 * decay)) + wash) * np.exp(-t / decay)
    y += 2.0 * highpass(rng.standard_normal(n), 2500, sr) * np.exp(-t / 0.01)
    return _norm(y)


def crash(sr: int, rng: np.random.Generator, *, decay: float = 1.4) -> np.ndarray:
    """Crash (or china, with a lower cutoff) cymbal: a bright noise swell with a long tail."""
    n = int(sr * min(3.5, 3 * decay))
    t = _t(n, sr)
    y = highpass(rng.standard_normal(n), 3000, sr) + 0.3 * bandpass(rng.standard_normal(n), 600, 3000, sr)
    y *= np.exp(-t / decay) * (1 - np.exp(-t / 0.003))
    return _norm(y)


def tom(sr: int, rng: np.random.Generator, *, pitch: float = 110.0, decay: float = 0.25) -> np.ndarray:
    """Tom: a swept sine with a little noise."""
    n = int(sr * 4 * decay)
    t = _t(n, sr)
    f = pitch * (1 + 0.6 * np.exp(-t / 0.05))
    y = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / decay)
    y += 0.2 * lowpass(rng.standard_normal(n), 3000, sr) * np.exp(-t / 0.01)
    return _norm(y)


# ----------------------------------------------------------------------------- strings


def karplus_strong(
    freq: float,
    n: int,
    sr: int,
    rng: np.random.Generator,
    *,
    brightness: float = 0.6,
    decay: float = 2.0,
    pick: float = 0.2,
) -> np.ndarray:
    """Plucked string (Karplus-Strong) of ``n`` samples at ``freq`` Hz.

    The feedback ``y[i] = x[i] + g * (c0 y[i-M] + c1 y[i-M-1] + c2 y[i-M-2])`` (an averaging
    loss filter with linear-interpolated fractional delay, so the pitch is exact) only looks
    at least ``M`` samples back, so it is evaluated ``M`` samples at a time with numpy.
    ``brightness`` (0..1) colours the excitation; ``decay`` is the -60 dB time in seconds;
    ``pick`` is the plucking position as a fraction of the string.
    """
    period = sr / freq
    m = max(int(np.floor(period - 0.5)), 2)
    frac = min(max(period - 0.5 - m, 0.0), 1.0)
    g = 10.0 ** (-3.0 / (max(decay, 0.01) * freq))
    c0, c1, c2 = g * 0.5 * (1 - frac), g * 0.5, g * 0.5 * frac
    length = int(np.ceil(period))
    a = 1.0 - 0.95 * float(np.clip(brightness, 0.02, 1.0))
    burst = signal.lfilter([1 - a], [1, -a], rng.uniform(-1, 1, length))
    shift = max(1, int(pick * length))
    burst[shift:] -= burst[:-shift]
    burst -= burst.mean()
    pad = m + 2
    y = np.zeros(pad + n)
    k = min(length, n)
    y[pad : pad + k] = burst[:k]
    end = pad + n
    for s in range(pad, end, m):
        e = min(s + m, end)
        y[s:e] += c0 * y[s - m : e - m] + c1 * y[s - m - 1 : e - m - 1] + c2 * y[s - m - 2 : e - m - 2]
    return _norm(y[pad:])


def piano(freq: float, n: int, sr: int, rng: np.random.Generator, *, velocity: float = 0.7) -> np.ndarray:
    """Piano: stretched (inharmonic) partials, each decaying faster than the last, and a hammer thump."""
    t = _t(n, sr)
    kmax = int(min(14, max(1, 0.45 * sr / freq)))
    k = np.arange(1, kmax + 1)[:, None]
    b = 0.0004 * (freq / 261.6) ** 0.5
    fk = k * freq * np.sqrt(1 + b * k**2)
    keep = fk[:, 0] < 0.45 * sr
    k, fk = k[keep], fk[keep]
    amp = 1.0 / k ** (2.2 - 1.4 * velocity)
    t60 = float(np.clip(7.0 * (261.6 / freq) ** 0.7, 0.6, 14.0))
    tau = (t60 / 6.9) / (1 + 0.35 * (k - 1))
    phase = rng.uniform(0, 2 * np.pi, (len(k), 1))
    y = np.sum(amp * np.sin(2 * np.pi * fk * t + phase) * np.exp(-t / tau), axis=0)
    m = min(n, int(0.03 * sr))
    y[:m] += 0.15 * velocity * lowpass(rng.standard_normal(m), 1500, sr) * np.exp(-np.arange(m) / (0.005 * sr))
    return _norm(attack(y, sr, 0.002))


def organ(
    freq: float,
    n: int,
    sr: int,
    rng: np.random.Generator,
    *,
    drawbars: tuple[float, ...] = (0.6, 1.0, 0.6, 0.5, 0.2, 0.1, 0.05),
    leslie: float = 6.5,
) -> np.ndarray:
    """Tonewheel organ: drawbar sines (sub, 1, 1.5, 2, 3, 4, 6 x f), rotary-speaker tremolo, key click."""
    t = _t(n, sr)
    ratios = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
    y = np.zeros(n)
    for r, level in zip(ratios, drawbars):
        if level > 0 and r * freq < 0.45 * sr:
            y += level * np.sin(2 * np.pi * r * freq * t)
    y *= 1 + 0.2 * np.sin(2 * np.pi * leslie * t + rng.uniform(0, 6.28))
    m = min(n, int(0.004 * sr))
    y[:m] += 0.5 * rng.standard_normal(m)
    return _norm(attack(y, sr, 0.004))


def epiano(
    freq: float, n: int, sr: int, rng: np.random.Generator, *, index: float = 2.0, decay: float = 1.6
) -> np.ndarray:
    """Electric piano (two-operator FM): a decaying modulation index gives the bark and the tine."""
    t = _t(n, sr)
    idx = index * np.exp(-t / 0.25) + 0.3
    y = np.sin(2 * np.pi * freq * t + idx * np.sin(2 * np.pi * freq * t)) * np.exp(-t / decay)
    if 14 * freq < 0.45 * sr:
        y += 0.15 * np.sin(2 * np.pi * 14 * freq * t) * np.exp(-t / 0.03)
    return _norm(attack(y, sr, 0.002))


def _saw(freq: np.ndarray | float, n: int, sr: int, phase0: float) -> np.ndarray:
    """Naive sawtooth at ``freq`` (scalar or per-sample array), in [-1, 1]."""
    inc = np.broadcast_to(np.asarray(freq, dtype=float) / sr, (n,))
    ph = (phase0 + np.cumsum(inc)) % 1.0
    return 2.0 * ph - 1.0


def saw_stack(
    freqs: list[float],
    n: int,
    sr: int,
    rng: np.random.Generator,
    *,
    detune: float = 8.0,
    voices: int = 3,
    cutoff: float = 3000.0,
    vibrato: float = 0.0,
    vibrato_rate: float = 5.5,
    attack_s: float = 0.2,
) -> np.ndarray:
    """Strings and pads: ``voices`` detuned (cents) sawtooths per note, vibrato, low-passed, slow attack."""
    t = _t(n, sr)
    y = np.zeros(n)
    for f in freqs:
        for v in range(voices):
            cents = detune * (v - (voices - 1) / 2) + rng.normal(0, detune * 0.2)
            fv = f * 2 ** (cents / 1200)
            if vibrato > 0:
                fv = fv * (
                    1 + vibrato * np.sin(2 * np.pi * (vibrato_rate + rng.normal(0, 0.3)) * t + rng.uniform(0, 6.28))
                )
            y += _saw(fv, n, sr, rng.uniform())
    y = lowpass(y, cutoff, sr, order=2)
    return _norm(attack(y, sr, attack_s))


def brass(
    freq: float, n: int, sr: int, rng: np.random.Generator, *, bright: float = 0.7, vibrato: float = 0.004
) -> np.ndarray:
    """Brass / horn: a sawtooth whose brightness swells with the attack (filter envelope)."""
    t = _t(n, sr)
    f = freq * (1 + vibrato * np.sin(2 * np.pi * 5.0 * t) * (1 - np.exp(-t / 0.3)))
    raw = _saw(f, n, sr, rng.uniform())
    dark = lowpass(raw, 2.5 * freq, sr)
    env = np.clip(t / 0.06, 0, 1) * (0.6 + 0.4 * np.exp(-t / 0.2))
    y = dark + bright * env * (lowpass(raw, 8 * freq, sr) - dark)
    return _norm(attack(y, sr, 0.03))


def lead(
    freq: float,
    n: int,
    sr: int,
    rng: np.random.Generator,
    *,
    shape: str = "square",
    cutoff: float = 4000.0,
    vibrato: float = 0.006,
) -> np.ndarray:
    """Synth lead (square or saw) or a flute-like ``sine`` voice with breath, with delayed vibrato."""
    t = _t(n, sr)
    f = freq * (1 + vibrato * np.sin(2 * np.pi * 5.5 * t) * np.clip(t / 0.4, 0, 1))
    if shape == "sine":
        ph = 2 * np.pi * np.cumsum(f) / sr
        y = np.sin(ph) + 0.2 * np.sin(2 * ph) + 0.08 * bandpass(rng.standard_normal(n), freq, 4 * freq, sr)
    elif shape == "saw":
        y = lowpass(_saw(f, n, sr, rng.uniform()), cutoff, sr)
    else:
        y = lowpass(np.where(_saw(f, n, sr, rng.uniform()) > 0, 1.0, -1.0), cutoff, sr)
    return _norm(attack(y, sr, 0.02))


def bass(freq: float, n: int, sr: int, rng: np.random.Generator, *, kind: str = "finger") -> np.ndarray:
    """Bass note: ``finger`` (additive pluck), ``synth`` (filtered saw), ``sub`` (808-style sine),
    ``upright`` (dark Karplus-Strong with a thump)."""
    t = _t(n, sr)
    if kind == "sub":
        f = freq * (1 + 0.5 * np.exp(-t / 0.02))
        ph = 2 * np.pi * np.cumsum(f) / sr
        y = (np.sin(ph) + 0.25 * np.tanh(3 * np.sin(ph))) * np.exp(-t / 1.2)
    elif kind == "synth":
        raw = _saw(freq, n, sr, rng.uniform())
        y = lowpass(raw, 3 * freq, sr, order=2) + 0.6 * np.exp(-t / 0.08) * lowpass(raw, 12 * freq, sr, order=2)
        y *= np.exp(-t / 2.0)
    elif kind == "upright":
        y = karplus_strong(freq, n, sr, rng, brightness=0.15, decay=1.2, pick=0.3)
        m = min(n, int(0.04 * sr))
        y[:m] += 0.6 * np.sin(2 * np.pi * freq * t[:m]) * np.exp(-t[:m] / 0.01)
    else:
        kmax = int(min(8, max(1, 0.45 * sr / freq)))
        k = np.arange(1, kmax + 1)[:, None]
        y = np.sum((1.0 / k**1.4) * np.sin(2 * np.pi * k * freq * t) * np.exp(-t * (0.8 + 1.2 * k)), axis=0)
    return _norm(attack(y, sr, 0.003))


_FORMANTS: dict[str, tuple[float, float, float]] = {
    "a": (800.0, 1150.0, 2900.0),
    "e": (400.0, 1700.0, 2600.0),
    "i": (300.0, 2200.0, 3000.0),
    "o": (450.0, 800.0, 2830.0),
    "u": (325.0, 700.0, 2530.0),
}
VOWELS: tuple[str, ...] = tuple(_FORMANTS)


def voice(
    freq: float,
    n: int,
    sr: int,
    rng: np.random.Generator,
    *,
    vowel: str = "a",
    breath: float = 0.15,
    vibrato: float = 0.012,
) -> np.ndarray:
    """A sung or spoken syllable: a buzzy glottal source through three vowel formant filters."""
    t = _t(n, sr)
    f = freq * (1 + vibrato * np.sin(2 * np.pi * 5.2 * t) * np.clip(t / 0.25, 0, 1))
    src = _saw(f, n, sr, rng.uniform()) + breath * rng.standard_normal(n)
    y = np.zeros(n)
    for form, g in zip(_FORMANTS[vowel], (1.0, 0.6, 0.3)):
        y += g * bandpass(src, 0.88 * form, 1.12 * form, sr, order=1)
    return _norm(attack(y, sr, 0.025))
