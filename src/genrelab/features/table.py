"""The feature table of a collection: per clip or per segment, cached, resumable, local or on Dask.

Each clip is one task: load, cut into segments, extract (:mod:`genrelab.features.engine`), and
return the rows (and MFCC maps). A finished task is cached as one small ``.npz`` in the cache
folder, keyed by the clip's path, size, mtime and the feature settings, so a rerun skips it and
a killed run loses at most the clips in flight. Unreadable, too short, silent and too costly
files (see :func:`genrelab.audio.load`'s limits), and clips whose features come out NaN or
infinite, are skipped with a reason; the batch goes on.

Local workers are capped at :func:`genrelab.features.workers.max_workers` (4 per CPU core,
at most 64) and exit when the process that started them dies (see that module).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from genrelab.errors import AudioError, ParameterError
from genrelab.features.cache import cache_key, cache_read, cache_write, stale_length_error
from genrelab.features.collect import ClipResult, compact, rows_table
from genrelab.features.columns import feature_columns
from genrelab.features.lengths import (
    DEFAULT_PAD,
    MIN_SECONDS,
    check_length,
    check_pad,
    check_segment,
    pad_to,
    tempo_fallback,
)
from genrelab.features.maps import MapSet, save_maps
from genrelab.features.params import check_params
from genrelab.features.workers import check_workers, run_dask, run_local
from genrelab.features.writing import write_notes, write_skipped, write_table, writing
from genrelab.progress import track

if TYPE_CHECKING:  # pandas loads where a table is built or read (the workers never need it)
    from concurrent.futures import ProcessPoolExecutor

    import pandas as pd

_CACHE_VERSION = 1


@dataclass(frozen=True)
class Settings:
    """Everything a cached result depends on besides the file itself."""

    sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mfcc: int = 20
    segment: float | None = None  # table rows per segment of this many seconds, or per clip
    maps_segment: float | None = None  # MFCC maps per segment of this many seconds; 0 = per clip; None = none
    table: bool = True  # compute the feature rows (False: maps only)
    offset: float = 0.0  # seconds skipped at the start of each file
    duration: float | None = None  # seconds read from each file (None: to the end)
    pad: str = DEFAULT_PAD  # how a clip shorter than a map segment is padded (genrelab.features.lengths)

    def key(self) -> str:
        fields = asdict(self)
        if not self.offset and self.duration is None:  # whole files: the key of caches written before
            del fields["offset"], fields["duration"]
        if self.pad == DEFAULT_PAD:  # the key of caches written before padding existed
            del fields["pad"]
        return json.dumps({"v": _CACHE_VERSION, **fields}, sort_keys=True)


@dataclass
class Extraction:
    """What :func:`run_extraction` produced."""

    table: pd.DataFrame
    maps: MapSet | None
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    n_cached: int = 0
    n_computed: int = 0
    clips: list[tuple[str, str, str, str]] = field(default_factory=list)  # (filename, track, label, path)
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # (path, row filename, note) of kept rows


def _segment_samples(seconds: float, sr: int) -> int:
    return int(round(seconds * sr))


def _segment_name(name: str, index: int) -> str:
    stem, ext = os.path.splitext(name)
    return f"{stem}.{index}{ext}"


def process_clip(path: str, settings: Settings) -> dict[str, Any]:
    """Extract one file: ``{"rows": [...], "maps": (n, n_mfcc, t) | None, "map_segments", "map_seconds",
    "map_padded", "length": n, "notes": [...]}`` (a row with a tempo fallback carries its ``"note"``).

    On an unusable file returns ``{"error": reason}`` instead of raising, so a batch goes on.
    Segments are cut from the start, ``round(segment * sr)`` samples each: 66150 for 3 s, so
    a 30 s GTZAN clip (661794 samples) gives ten. (The public ``features_3_sec.csv`` reports
    ``length`` 66149, one sample short of 3 s; we keep whole 3 s pieces, 130 STFT frames each.)
    A remainder shorter than a segment is dropped; a clip shorter than one segment (but at least
    :data:`genrelab.features.lengths.MIN_SECONDS`) gives one row of the whole clip and one map of
    a segment's frames, its audio padded (``settings.pad``). A silent segment is left out with a note.
    """
    from genrelab.audio import load
    from genrelab.features.engine import extract_features

    s = settings
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # non-finite results are checked
            return _process(path, s, load, extract_features)
    except MemoryError:  # one bad clip must not end the batch
        return {"error": "ran out of memory while extracting"}


def _process(path: str, s: Settings, load: Any, extract_features: Any) -> dict[str, Any]:
    try:
        y = load(path, sr=s.sr, offset=s.offset, duration=s.duration)
        check_length(y.size, sr=s.sr)
    except AudioError as exc:
        return {"error": _reason(str(exc), path)}
    if not np.any(y):
        return {"error": "silent"}
    kw = dict(sr=s.sr, n_fft=s.n_fft, hop_length=s.hop_length, n_mfcc=s.n_mfcc)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    maps_list: list[np.ndarray] = []
    map_segments: list[int] = []
    map_seconds: list[float] = []
    padded = False  # the clip is shorter than a map segment: its one map is padded
    reuse: dict[int, np.ndarray] = {}  # MFCCs of the table pieces, when the maps use the same pieces
    same_pieces = s.maps_segment is not None and (s.maps_segment or None) == (s.segment or None)
    if s.table:
        for index, piece in _pieces(y, s.segment, s.sr):
            try:
                feats, m = extract_features(piece, with_mfcc=same_pieces, **kw)
            except AudioError as exc:
                notes.append(f"segment {index}: {_reason(str(exc), path)}")
                continue
            if not _finite(feats, m):
                notes.append(f"segment {index}: {_not_finite(piece)}")
                continue
            if m is not None:
                reuse[index] = m
            row = {"segment": index, "length": int(piece.size), **feats}
            note = tempo_fallback(row, piece.size, sr=s.sr)
            if note:
                row["note"] = note
            rows.append(row)
    if s.maps_segment is not None:
        from genrelab.features.engine import mfcc_frames

        seg_n = _segment_samples(s.maps_segment, s.sr) if s.maps_segment else y.size
        short = y.size < seg_n  # one map of the whole clip, padded to a segment
        pieces = [(0, pad_to(y, seg_n, mode=s.pad))] if short else _pieces(y, s.maps_segment, s.sr)
        for index, piece in pieces:
            if same_pieces and s.table and not short:
                if index in reuse:
                    maps_list.append(reuse[index])
                    map_segments.append(index)
                    map_seconds.append(piece.size / s.sr)
                continue
            if not np.any(piece):
                notes.append(f"map segment {index}: silent")
                continue
            m = np.ascontiguousarray(mfcc_frames(piece, **kw).T)
            if not _finite({}, m):
                notes.append(f"map segment {index}: {_not_finite(piece)}")
                continue
            maps_list.append(m)
            map_segments.append(index)
            map_seconds.append((y.size if short else piece.size) / s.sr)
        padded = short and bool(maps_list)
    if s.table and not rows:
        return {"error": "silent" if all(n.endswith("silent") for n in notes) else "; ".join(notes)}
    maps = None
    if maps_list:
        frames = min(m.shape[1] for m in maps_list)
        maps = np.stack([m[:, :frames] for m in maps_list]).astype(np.float32)
    return {
        "rows": rows,
        "maps": maps,
        "map_segments": map_segments,
        "map_seconds": map_seconds,
        "map_padded": padded,
        "length": int(y.size),
        "notes": notes,
    }


def _pieces(y: np.ndarray, segment: float | None, sr: int) -> list[tuple[int, np.ndarray]]:
    """``(index, samples)`` of each whole ``segment``-second piece; the whole clip when it is
    shorter than one segment (or ``segment`` is None/0)."""
    if not segment:
        return [(0, y)]
    n = _segment_samples(segment, sr)
    return _cut(y, n) if y.size >= n else [(0, y)]


def check_span(offset: float, duration: float | None) -> None:
    """ParameterError unless ``offset >= 0`` and ``duration`` is None or ``> 0`` (seconds, finite)."""

    def number(v: object) -> bool:
        return isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) and bool(np.isfinite(v))

    if not (number(offset) and offset >= 0):
        raise ParameterError(f"offset={offset!r} must be a number of seconds >= 0")
    if duration is not None and not (number(duration) and duration > 0):
        raise ParameterError(f"duration={duration!r} must be a positive number of seconds")


def _finite(feats: dict[str, float], m: np.ndarray | None) -> bool:
    values = np.fromiter(feats.values(), dtype=np.float64, count=len(feats))
    return bool(np.all(np.isfinite(values)) and (m is None or np.all(np.isfinite(m))))


def _not_finite(piece: np.ndarray) -> str:
    return f"features are NaN or infinite (samples reach {float(np.max(np.abs(piece))):.3g})"


def _cut(y: np.ndarray, n: int) -> list[tuple[int, np.ndarray]]:
    return [(i, y[i * n : (i + 1) * n]) for i in range(y.size // n)]


def _reason(message: str, path: str) -> str:
    prefix = f"{path}: "
    msg = message[len(prefix) :] if message.startswith(prefix) else message
    return "silent" if msg.startswith("silent") else msg


# -- running ----------------------------------------------------------------------------------


def _as_items(clips: Sequence[Any]) -> list[tuple[Path, str, str]]:
    """``(path, label, track)`` for Clips or plain paths (label = parent folder name)."""
    from genrelab.data.gtzan import track_id_of

    items = []
    for c in clips:
        if hasattr(c, "path") and hasattr(c, "label"):
            items.append((Path(c.path), str(c.label), str(getattr(c, "track_id", track_id_of(Path(c.path).name)))))
        else:
            p = Path(c)
            items.append((p, p.parent.name, track_id_of(p.name)))
    return items


def run_extraction(
    clips: Sequence[Any],
    *,
    settings: Settings,
    workers: int = 1,
    scheduler: str | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    pool: ProcessPoolExecutor | None = None,
) -> Extraction:
    """Extract every clip (cache first, then the pool or cluster) and assemble the table and maps.

    ``pool``: local worker processes started earlier (:func:`genrelab.features.workers.pool`, of
    ``workers`` processes), used instead of a new pool and left running."""
    if not isinstance(workers, (int, np.integer)) or isinstance(workers, bool) or workers < 1:
        raise ParameterError(f"workers={workers!r} must be a positive integer")
    workers = int(workers)
    check_workers(workers)
    check_span(settings.offset, settings.duration)
    for name in ("segment", "maps_segment"):
        v = getattr(settings, name)
        if v is not None and not (v == 0 and name == "maps_segment"):
            check_segment(v, name=name)
    check_pad(settings.pad)
    check_params(sr=settings.sr, n_fft=settings.n_fft, hop_length=settings.hop_length, n_mfcc=settings.n_mfcc)
    items = _as_items(clips)
    cols = feature_columns(settings.n_mfcc)
    results: dict[int, ClipResult] = {}  # compact as they arrive: memory stays flat in the clip count
    keys: dict[int, str | None] = {}
    todo: list[tuple[int, str]] = []
    n_cached = 0
    for i, (path, _, _) in enumerate(items):
        keys[i] = cache_key(path, settings.key()) if cache_dir is not None else None
        if keys[i] is not None:
            hit = cache_read(cache_dir / f"{keys[i]}.npz")
            if hit is not None and not stale_length_error(hit, floor=MIN_SECONDS):
                results[i] = compact(hit, cols)
                n_cached += 1
                continue
        todo.append((i, str(path)))

    import pandas  # noqa: F401 - for the table at the end: loaded now, while local workers start up

    stream = (
        run_dask(process_clip, todo, settings, scheduler)
        if scheduler
        else run_local(process_clip, todo, settings, workers, pool)
    )
    for i, result in track(stream, description="extracting features", total=len(todo), enabled=progress):
        if keys[i] is not None:
            cache_write(cache_dir / f"{keys[i]}.npz", result)
        results[i] = compact(result, cols)
    return _assemble(items, results, settings, n_cached=n_cached, n_computed=len(todo))


def _assemble(
    items, results: dict[int, ClipResult], settings: Settings, *, n_cached: int, n_computed: int
) -> Extraction:
    cols = feature_columns(settings.n_mfcc)
    skipped: list[tuple[str, str]] = []
    clip_rows: list[tuple[str, str, str, str]] = []
    parts: list[tuple[ClipResult, list[str], str]] = []
    notes: list[tuple[str, str, str]] = []
    maps, m_file, m_track, m_label, m_seg, m_pad, m_sec = [], [], [], [], [], [], []
    for i, (path, label, track_id) in enumerate(items):
        r = results[i]
        if r.error is not None:
            skipped.append((str(path), r.error))
            continue
        skipped += [(str(path), note) for note in r.notes]
        clip_rows.append((path.name, track_id, label, str(path)))
        names = [_segment_name(path.name, int(g)) if settings.segment else path.name for g in r.segments]
        parts.append((r, names, label))
        notes += [(str(path), name, note) for name, note in zip(names, r.row_notes) if note]
        if r.maps is not None:
            full = settings.maps_segment or (r.maps.shape[2] - 1) * settings.hop_length / settings.sr
            seconds = r.map_seconds or (full,) * len(r.maps)  # caches from before #13 lack them
            for m, seg, sec in zip(r.maps, r.map_segments, seconds):
                maps.append(m)
                m_pad.append(r.map_padded)
                m_sec.append(float(sec))
                m_file.append(_segment_name(path.name, seg) if settings.maps_segment else path.name)
                m_track.append(track_id)
                m_label.append(label)
                m_seg.append(seg)
    table = rows_table(parts, cols, segment=bool(settings.segment))
    mapset = None
    if settings.maps_segment is not None and maps:
        frames = min(m.shape[1] for m in maps)  # whole clips differ by a frame or two: crop to the shortest
        mapset = MapSet(
            maps=np.stack([m[:, :frames] for m in maps]),
            filename=np.array(m_file),
            track=np.array(m_track),
            label=np.array(m_label),
            segment=np.array(m_seg),
            padded=np.array(m_pad, dtype=bool),
            seconds=np.minimum(np.array(m_sec, dtype=np.float64), frames * settings.hop_length / settings.sr),
            segment_seconds=settings.maps_segment or None,
            pad=settings.pad,
        )
    return Extraction(
        table=table,
        maps=mapset,
        skipped=skipped,
        n_cached=n_cached,
        n_computed=n_computed,
        clips=clip_rows,
        notes=notes,
    )


def extract_table(
    clips: Sequence[Any],
    *,
    segment: float | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    out: Path | None = None,
    maps_dir: Path | None = None,
    progress: bool = True,
    sr: int = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mfcc: int = 20,
    cache_dir: Path | None = None,
    offset: float = 0.0,
    duration: float | None = None,
    pad: str = DEFAULT_PAD,
    pool: ProcessPoolExecutor | None = None,
) -> pd.DataFrame:
    """The feature table of ``clips`` (Clips or paths) in the public GTZAN CSV layout.

    Columns: ``filename, length, <57 features>, label`` (+ ``segment`` when ``segment`` is
    given: rows per ``segment``-second piece, named ``blues.00000.3.wav``). With ``out`` the
    table is written there (CSV + ``.parquet``), with ``skipped.csv`` beside it, and finished
    clips are cached in ``cache_dir`` (default ``out.parent / "cache"``) so a rerun resumes.
    With ``maps_dir`` the MFCC maps (per segment, or per clip cropped to the shortest clip)
    go to ``maps_dir/maps.npz``. ``offset``/``duration`` (seconds) take that part of each file
    (the cache is keyed on them). A clip shorter than ``segment`` gives one row of the whole clip
    (its ``length`` says so) and one map padded by ``pad`` (:mod:`genrelab.features.lengths`);
    clips under 0.5 s are skipped. Rows with a note (tempo of a clip under 2 s) are listed in
    ``notes.csv`` beside ``out``. ``scheduler`` is a Dask scheduler address (``tcp://host:port``);
    otherwise ``workers`` local processes (``pool``: a pool of them started earlier, see
    :func:`run_extraction`). ``table.attrs`` holds ``skipped`` ((path, reason)
    pairs), ``notes`` ((path, filename, note) triples), ``n_cached``, ``n_computed`` and ``n_clips`` (clips with at least one row).
    ``workers`` above :func:`genrelab.features.workers.max_workers` is a :class:`ParameterError`; an OSError while
    writing (a full disk) is a :class:`DatasetError` in one sentence.
    """
    if segment is not None:
        segment = check_segment(segment)
    check_span(offset, duration)
    settings = Settings(
        sr=sr,
        n_fft=n_fft,
        hop_length=hop_length,
        n_mfcc=n_mfcc,
        segment=segment,
        maps_segment=(segment or 0) if maps_dir is not None else None,
        offset=float(offset),
        duration=None if duration is None else float(duration),
        pad=check_pad(pad),
    )
    out = Path(out) if out is not None else None
    if cache_dir is None and out is not None:
        cache_dir = out.parent / "cache"
    result = run_extraction(
        clips,
        settings=settings,
        workers=workers,
        scheduler=scheduler,
        cache_dir=Path(cache_dir) if cache_dir is not None else None,
        progress=progress,
        pool=pool,
    )
    if out is not None:
        write_table(result.table, out)
        write_skipped(result.skipped, out.parent / "skipped.csv")
        write_notes(result.notes, out.parent / "notes.csv")
    if maps_dir is not None and result.maps is not None:
        with writing(Path(maps_dir) / "maps.npz"):
            save_maps(Path(maps_dir) / "maps.npz", result.maps)
    table = result.table
    table.attrs.update(
        skipped=result.skipped,
        notes=result.notes,
        n_cached=result.n_cached,
        n_computed=result.n_computed,
        n_clips=len(result.clips),
    )
    return table
