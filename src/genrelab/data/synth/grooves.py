"""Time and rhythm: the :class:`Score` (beat grid with swing, buses, note cache) and drum grooves."""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

import numpy as np

from genrelab.data.synth import instruments as ins


class Score:
    """A clip being written: a beat grid (tempo, swing, humanised timing) and mono buses ``(n,)``.

    ``offset`` seconds of the song are skipped, so clips start anywhere in a bar as GTZAN
    excerpts do. ``swing`` in [0, 1/6] delays every off-beat eighth (1/6 = triplet shuffle).
    """

    def __init__(
        self,
        *,
        sr: int,
        n: int,
        rng: np.random.Generator,
        bpm: float,
        swing: float = 0.0,
        meter: int = 4,
        jitter: float = 0.004,
        offset: float = 0.0,
    ) -> None:
        self.sr, self.n, self.rng = sr, n, rng
        self.bpm, self.swing, self.meter, self.jitter = bpm, swing, meter, jitter
        self.beat = 60.0 / bpm
        self.offset = offset
        self.buses: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(n))
        self._cache: dict[tuple, np.ndarray] = {}
        self.beats = int(np.ceil((n / sr + offset) / self.beat)) + 1
        self.bars = int(np.ceil(self.beats / meter))

    def time(self, beat: float, *, human: bool = True) -> float:
        """Seconds (from the clip start) of a beat position, after swing and humanising."""
        b = np.floor(beat)
        f = beat - b
        s = self.swing
        if s:
            f = f * (1 + 2 * s) if f <= 0.5 else 0.5 + s + (f - 0.5) * (1 - 2 * s)
        t = (b + f) * self.beat - self.offset
        if human and self.jitter:
            t += self.rng.normal(0.0, self.jitter)
        return t

    def samples(self, beats: float) -> int:
        """Number of samples in ``beats`` beats."""
        return max(1, int(beats * self.beat * self.sr))

    def add(self, bus: str, sig: np.ndarray, t: float, gain: float = 1.0) -> None:
        """Mix ``sig`` into ``bus`` starting at ``t`` seconds (cropped to the clip)."""
        i = int(round(t * self.sr))
        if i >= self.n or gain == 0:
            return
        if i < 0:
            sig = sig[-i:]
            i = 0
        m = min(len(sig), self.n - i)
        if m > 0:
            self.buses[bus][i : i + m] += gain * sig[:m]

    def note(self, key: tuple, make: Callable[[], np.ndarray]) -> np.ndarray:
        """Memoise a rendered note within this clip (the same chord recurs many times)."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


class DrumKit:
    """One clip's drum samples, made once with per-clip tuning, then placed by the grooves."""

    def __init__(
        self,
        sr: int,
        rng: np.random.Generator,
        *,
        kick_pitch=(48, 60),
        kick_decay=(0.2, 0.4),
        snare_tone=(170, 230),
        snare_decay=(0.1, 0.2),
        hat_cut=(6000, 8500),
        sub_kick: bool = False,
        ride_decay=(0.9, 1.5),
    ) -> None:
        u = rng.uniform
        self.sr = sr
        self.s: dict[str, np.ndarray] = {
            "kick": ins.kick(sr, rng, pitch=u(*kick_pitch), decay=u(*kick_decay), sweep=u(130, 220), click=u(0.2, 0.6)),
            "snare": ins.snare(sr, rng, tone=u(*snare_tone), decay=u(*snare_decay), snappy=u(0.5, 0.85)),
            "hat": ins.hat(sr, rng, decay=u(0.02, 0.05), cutoff=u(*hat_cut)),
            "ohat": ins.hat(sr, rng, decay=u(0.18, 0.35), cutoff=u(*hat_cut)),
            "ride": ins.ride(sr, rng, decay=u(*ride_decay)),
            "crash": ins.crash(sr, rng, decay=u(1.0, 1.8)),
            "clap": ins.clap(sr, rng),
            "rim": ins.rim(sr, rng, tone=u(400, 600)),
            "tom_hi": ins.tom(sr, rng, pitch=u(160, 220)),
            "tom_lo": ins.tom(sr, rng, pitch=u(80, 120)),
        }
        if sub_kick:
            self.s["kick"] = ins.kick(sr, rng, pitch=u(42, 52), decay=u(0.5, 0.9), sweep=u(100, 160), click=u(0.3, 0.7))


# A groove is {voice: "16 steps"}; characters: x = accent, o = normal, g = ghost, . = rest.
_VEL = {"x": 1.0, "o": 0.7, "g": 0.25}

GROOVES: dict[str, list[dict[str, str]]] = {
    "rock": [
        {"kick": "x.......x.x.....", "snare": "....x.......x...", "hat": "x.o.x.o.x.o.x.o."},
        {"kick": "x.....o.x.......", "snare": "....x.......x...", "hat": "x.o.x.o.x.o.x.o."},
        {"kick": "x.......x.......", "snare": "....x.......x..g", "ride": "x.o.x.o.x.o.x.o."},
    ],
    "metal": [
        {"kick": "xoxoxoxoxoxoxoxo", "snare": "....x.......x...", "crash": "x.......x......."},
        {"kick": "xoxoxoxoxoxoxoxo", "snare": "....x.......x...", "ride": "x...x...x...x..."},
        {"kick": "x.x.x.x.x.x.x.x.", "snare": "..x...x...x...x.", "crash": "x...x...x...x..."},
        {"kick": "xoxoxoxoxoxoxoxo", "snare": "..x...x...x...x.", "hat": "x.x.x.x.x.x.x.x."},
    ],
    "pop": [
        {"kick": "x.....o.x.......", "clap": "....x.......x...", "hat": "x.o.x.o.x.o.x.o."},
        {
            "kick": "x.......x.o.....",
            "snare": "....x.......x...",
            "hat": "o.o.o.o.o.o.o.o.",
            "clap": "....x.......x...",
        },
        {"kick": "x...x...x...x...", "clap": "....x.......x...", "hat": "..o...o...o...o."},
    ],
    "disco": [
        {
            "kick": "x...x...x...x...",
            "snare": "....x.......x...",
            "ohat": "..x...x...x...x.",
            "hat": "g.g.g.g.g.g.g.g.",
        },
        {"kick": "x...x...x...x...", "clap": "....x.......x...", "ohat": "..x...x...x...x.", "hat": "ggg.ggg.ggg.ggg."},
    ],
    "hiphop": [
        {"kick": "x.........x.....", "snare": "....x.......x...", "hat": "o.o.o.o.o.o.o.o."},
        {"kick": "x......o..x.....", "snare": "....x.......x...", "hat": "o...o...o...o..."},
        {"kick": "x.o.......x..o..", "snare": "....x.......x...", "hat": "o.o.o.o.o.o.o.o."},
        {"kick": "x.........o..x..", "snare": "....x.......x...", "hat": "o.oo..o.o.oo..o."},
    ],
    "reggae": [
        {"kick": "........x.......", "rim": "........x.......", "hat": "o.o.o.o.o.o.o.o."},
        {"kick": "........x.......", "snare": "........x.......", "hat": "o.g.o.g.o.g.o.g."},
        {"kick": "x...x...x...x...", "rim": "........x.......", "hat": "..o...o...o...o."},
    ],
    "blues": [
        {"kick": "x.......x.......", "snare": "....x.......x...", "hat": "x.o.x.o.x.o.x.o."},
        {"kick": "x.......x.......", "snare": "....x.......x...", "ride": "x.o.x.o.x.o.x.o."},
        {"kick": "x...o...x...o...", "snare": "....x.......x...", "hat": "o.o.o.o.o.o.o.o."},
    ],
    "jazz": [
        {
            "ride": "x...o.o.x...o.o.",
            "hat": "....o.......o...",
            "kick": "g...g...g...g...",
            "snare": "......g.......g.",
        },
        {"ride": "x...o.o.x...o.o.", "hat": "....o.......o...", "snare": "..g.....g.g....."},
        {"ride": "x...x.o.x...x.o.", "hat": "....o.......o...", "kick": "g.......g......."},
    ],
    "country": [
        {"kick": "x.......x.......", "snare": "ggggxgggggggxggg", "hat": "....o.......o..."},
        {"kick": "x.......x.......", "snare": "....x.......x...", "hat": "o.o.o.o.o.o.o.o."},
        {"kick": "x.......x.......", "rim": "....x.......x...", "hat": "o.o.o.o.o.o.o.o."},
    ],
}

#: Default voice levels of a kit (cymbals sit well below the drums, as in a mixed record).
_BASE_LEVELS: dict[str, float] = {"hat": 0.45, "ohat": 0.4, "ride": 0.4, "crash": 0.6}


def play_groove(
    score: Score,
    kit: DrumKit,
    groove: dict[str, str],
    *,
    levels: dict[str, float] | None = None,
    fill_every: int = 4,
    crash_every: int = 4,
    start_bar: int = 0,
) -> None:
    """Place a one-bar groove (16 steps per 4/4 bar) on every bar into the ``drums`` bus, with
    velocity noise, a snare/tom fill before every ``fill_every``-th bar and a crash after it."""
    rng = score.rng
    levels = {**_BASE_LEVELS, **(levels or {})}
    steps_per_bar = len(next(iter(groove.values())))
    step_beats = score.meter / steps_per_bar
    for bar in range(score.bars):
        b0 = bar * score.meter
        fill = fill_every and (bar + start_bar) % fill_every == fill_every - 1 and rng.uniform() < 0.6
        if crash_every and (bar + start_bar) % crash_every == 0 and "crash" not in groove:
            score.add("drums", kit.s["crash"], score.time(b0), 0.5 * rng.uniform(0.7, 1.0) * levels.get("crash", 1.0))
        for voice, pattern in groove.items():
            for i, ch in enumerate(pattern):
                if ch == "." or (fill and i >= steps_per_bar * 3 // 4 and voice in ("snare", "clap", "rim")):
                    continue
                vel = _VEL[ch] * rng.uniform(0.85, 1.0) * levels.get(voice, 1.0)
                score.add("drums", kit.s[voice], score.time(b0 + i * step_beats), vel)
        if fill:
            last = steps_per_bar // 4
            for j in range(last):
                beat = b0 + (steps_per_bar - last + j) * step_beats
                voice = rng.choice(["snare", "tom_hi", "tom_lo"]) if "snare" in groove or "kick" in groove else "rim"
                score.add("drums", kit.s[str(voice)], score.time(beat), rng.uniform(0.5, 0.9))
