"""Mixing: per-bus level, drive (amp + cabinet), filters and echo; a convolution reverb; mastering."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from genrelab.data.synth import instruments as ins


@dataclass
class MixPlan:
    """How one clip's buses are mixed. Levels in dB; sends are linear reverb-send gains."""

    levels: dict[str, float]
    sends: dict[str, float] = field(default_factory=dict)
    drive: dict[str, tuple[float, float]] = field(default_factory=dict)  # bus -> (gain, cabinet cutoff Hz)
    lowpass: dict[str, float] = field(default_factory=dict)  # bus -> cutoff Hz
    delay: dict[str, tuple[float, float]] = field(default_factory=dict)  # bus -> (seconds, feedback)
    rt60: float = 1.0
    master_drive: float = 0.0  # soft-clip drive of the "mastering" (loud genres)
    noise_db: float = -60.0  # noise floor relative to the mix RMS
    tilt: float = 0.0  # -1 (dark) .. +1 (bright)
    dynamics_db: float = 0.0  # depth of slow swells over the clip (classical)
    crackle: float = 0.0  # vinyl clicks per second
    bandwidth: float = 0.0  # recording bandwidth in Hz (0 = full): old or radio-like recordings
    low_cut: float = 30.0  # high-pass of the master in Hz (thin recordings cut more)


def reverb_ir(sr: int, rng: np.random.Generator, *, rt60: float) -> np.ndarray:
    """A room: a few early reflections and exponentially decaying, darkening noise ``(n,)``."""
    n = max(16, int(rt60 * sr))
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail = 0.5 * ins.lowpass(tail, 6000, sr) + 0.5 * ins.lowpass(tail, 1500, sr)
    tail[: int(0.01 * sr)] *= np.linspace(0, 1, int(0.01 * sr))
    for d, g in zip(rng.uniform(0.005, 0.04, 5), rng.uniform(0.3, 0.7, 5)):
        tail[int(d * sr)] += g * 8 * np.abs(tail).max()
    return tail / np.sqrt(np.sum(tail**2))


def echo(x: np.ndarray, sr: int, *, seconds: float, feedback: float) -> np.ndarray:
    """Tape-style feedback delay (dub echo), darkening on each repeat."""
    d = int(seconds * sr)
    if d <= 0:
        return x
    a = np.zeros(d + 1)
    a[0], a[d] = 1.0, -feedback
    wet = signal.lfilter([0.0] * d + [1.0], a, ins.lowpass(x, 2500, sr))
    return x + 0.5 * wet


def mixdown(buses: dict[str, np.ndarray], plan: MixPlan, *, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Mix ``buses`` (each ``(n,)``) by ``plan`` into one master ``(n,)``, peak-normalised to ~0.9."""
    n = len(next(iter(buses.values())))
    dry = np.zeros(n)
    send = np.zeros(n)
    for name in sorted(buses):
        x = buses[name]
        if not np.any(x):
            continue
        x = x / (np.max(np.abs(x)) + 1e-12)
        if name in plan.drive:
            gain, cab = plan.drive[name]
            x = ins.highpass(x, 90, sr)
            x = np.tanh(gain * x + 0.1) - np.tanh(0.1)
            x = ins.lowpass(x, cab, sr, order=4)
            x /= np.max(np.abs(x)) + 1e-12
        if name in plan.lowpass:
            x = ins.lowpass(x, plan.lowpass[name], sr, order=2)
        if name in plan.delay:
            x = echo(x, sr, seconds=plan.delay[name][0], feedback=plan.delay[name][1])
        g = 10 ** ((plan.levels.get(name, -6.0) + rng.uniform(-2.5, 2.5)) / 20)
        dry += g * x
        send += g * plan.sends.get(name, 0.1) * x
    if np.any(send):
        ir = reverb_ir(sr, rng, rt60=plan.rt60)
        dry += signal.fftconvolve(send, ir)[:n]
    y = ins.highpass(dry, plan.low_cut, sr)
    if plan.bandwidth:
        y = ins.lowpass(y, plan.bandwidth, sr, order=4)
    if plan.tilt:
        y = y + plan.tilt * 0.7 * ins.highpass(y, 1500, sr) - plan.tilt * 0.3 * ins.lowpass(y, 300, sr)
    if plan.dynamics_db:
        k = 6
        pts = rng.uniform(-plan.dynamics_db, 0, k)
        env_db = np.interp(np.linspace(0, k - 1, n), np.arange(k), pts)
        y = y * 10 ** (env_db / 20)
    y = y / (np.max(np.abs(y)) + 1e-12)
    if plan.master_drive > 0:
        y = np.tanh(plan.master_drive * y) / np.tanh(plan.master_drive)
    rms = np.sqrt(np.mean(y**2)) + 1e-12
    noise = ins.lowpass(rng.standard_normal(n), rng.uniform(4000, 10000), sr) * rms * 10 ** (plan.noise_db / 20)
    y = y + noise
    if plan.crackle > 0:
        clicks = rng.uniform(size=n) < plan.crackle / sr
        y += np.where(clicks, rng.uniform(-1, 1, n), 0.0) * 0.3 * rms * 4
    return y / (np.max(np.abs(y)) + 1e-12)
