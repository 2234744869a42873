"""recreate(): generate -> (guide) -> invert -> wav -> reclassify -> ``metrics/fidelity.json``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from genrelab.constants import RECREATION_GENRES, SR
from genrelab.errors import DatasetError, ParameterError
from genrelab.models import MODELS
from genrelab.progress import track
from genrelab.recreation.clips import (
    limit_peak,
    load_real,
    mfcc_of,
    mfcc_to_audio,
    save_clips,
)
from genrelab.recreation.fidelity import Audio, reclassify
from genrelab.recreation.generator import Recreator, frames_for, generate
from genrelab.recreation.guidance import guide
from genrelab.recreation.heldout import heldout_clips, prompts_for
from genrelab.recreation.training import RECREATION_MODELS
from genrelab.rundir import RunDir

DEFAULT_GENRES: tuple[str, ...] = RECREATION_GENRES
MODEL_SHORT: dict[str, str] = {n.removeprefix("recreate-"): n for n in RECREATION_MODELS}  # lstm, dense
GUIDE_MODELS: tuple[str, ...] = tuple(n for n, s in MODELS.items() if s.kind == "maps")


def _check_args(
    genres: list[str], models: list[str], per_genre: int, seconds: float, prompt_frames: int, guide_model: str
) -> None:
    """ParameterError for options recreate() cannot use (before anything is loaded)."""
    for m in models:
        if m not in MODEL_SHORT:
            raise ParameterError(f"unknown recreation model {m!r}; choose from {sorted(MODEL_SHORT)} (or both)")
    if not genres:
        raise ParameterError("genres is empty; name at least one genre")
    if not isinstance(per_genre, int) or per_genre < 1:
        raise ParameterError(f"per_genre={per_genre!r} must be a positive integer")
    if not (math.isfinite(seconds) and 3.0 <= seconds <= 60):
        raise ParameterError(f"seconds={seconds} must be between 3 and 60 (the classifiers need 3 s windows)")
    if prompt_frames < 0:
        raise ParameterError(f"prompt_frames={prompt_frames} must be >= 0")
    if guide_model not in GUIDE_MODELS:
        raise ParameterError(f"guide_model={guide_model!r} must be a map classifier; choose from {list(GUIDE_MODELS)}")


def _recreators(
    run: RunDir, models: list[str], genres: list[str], prompt_frames: int, device: str
) -> tuple[dict[str, Recreator], list[str]]:
    """The trained recreation models asked for (``{short name: Recreator}``) and the missing ones."""
    recs: dict[str, Recreator] = {}
    missing = []
    for m in models:
        if run.has_model(MODEL_SHORT[m]):
            recs[m] = Recreator.load(run, MODEL_SHORT[m], device=device)
        elif len(models) == 1:
            Recreator.load(run, MODEL_SHORT[m])  # raises the one-sentence error
        else:
            missing.append(m)
    if not recs:
        raise DatasetError(
            f"no trained recreation model in {run.models}; train one with "
            f"`genrelab train DATA --model recreate-lstm --out {run}`"
        )
    for rec in recs.values():
        bad = [g for g in genres if g not in rec.labels]
        if bad:
            raise ParameterError(f"unknown genre {bad[0]!r}; {rec.name} knows {rec.labels}")
    first = next(iter(recs.values()))
    if prompt_frames and prompt_frames <= first.config.context:
        raise ParameterError(
            f"prompt_frames={prompt_frames} must be 0 or more than the model's context ({first.config.context} frames)"
        )
    return recs, missing


def _guide_classifier(
    run: RunDir, classifiers: dict[str, Any], guidance: float, guide_model: str, genres: list[str]
) -> Any | None:
    """The classifier that steers the generated MFCCs (None when ``guidance == 0``)."""
    if guidance > 0:
        if guide_model not in classifiers:
            raise DatasetError(
                f"--guidance needs a trained {guide_model} in {run.models}; train it with "
                f"`genrelab train DATA --model {guide_model} --out {run}`"
            )
        clf = classifiers[guide_model]
        bad = [g for g in genres if g not in clf.labels]
        if bad:
            raise ParameterError(f"unknown genre {bad[0]!r} for guidance; the {guide_model} knows {clf.labels}")
        return clf
    if guidance < 0 or not math.isfinite(guidance):
        raise ParameterError(f"guidance={guidance} must be a finite number >= 0")
    return None


def _classifier_frames(clf: Any) -> int:
    """Frames per window the map classifier was trained on (130 for 3 s maps)."""
    frames = getattr(clf, "frames", None)
    return int(frames) if frames else 130


def _recreated(
    run: RunDir,
    recs: dict[str, Recreator],
    genres: list[str],
    prompts: dict[str, np.ndarray],
    *,
    per_genre: int,
    seconds: float,
    temperature: float,
    seed: int,
    guide_clf: Any | None,
    guidance: float,
    device: str,
    progress: bool,
) -> tuple[dict[str, dict[str, list[np.ndarray]]], list[dict]]:
    """Generate, guide, invert and write each model's clips: ``({model: {genre: [clip (n,)]}}, file records)``."""
    frames = frames_for(seconds)
    n_samples = int(round(seconds * SR))
    audio: dict[str, dict[str, list[np.ndarray]]] = {}
    files: list[dict] = []
    for m, rec in recs.items():
        audio[m] = {}
        for genre in track(genres, description=f"recreate {m}", enabled=progress):
            # a stable seed per (seed, model, genre): the same clips whichever other models/genres run
            s = int(np.random.SeedSequence([seed, list(MODEL_SHORT).index(m), *genre.encode()]).generate_state(1)[0])
            mf = generate(
                rec, [genre] * per_genre, frames=frames, prompts=prompts.get(genre), temperature=temperature, seed=s
            )  # (per_genre, n_mfcc, frames)
            if guide_clf is not None:
                mf = guide(
                    mf,
                    [guide_clf.labels.index(genre)] * per_genre,
                    guide_clf.module,
                    weight=guidance,
                    frames=_classifier_frames(guide_clf),
                    std=rec.std,
                    device=device,
                )
            ys = [limit_peak(y[:n_samples]) for y in mfcc_to_audio(mf, device=device)]
            audio[m][genre] = ys
            files += save_clips(run.recreated_folder(m, genre), genre, ys, source=m)
    return audio, files


def _real_and_oracle(
    run: RunDir, heldout: dict[str, list[Path]], genres: list[str], *, seconds: float, device: str, progress: bool
) -> tuple[dict[str, dict[str, list[np.ndarray]]], list[dict]]:
    """The real held-out clips, and the same through MFCC -> mfcc_to_audio (the oracle, written as wavs)."""
    audio: dict[str, dict[str, list[np.ndarray]]] = {"real": {}, "oracle": {}}
    files: list[dict] = []
    for genre in track(genres, description="oracle clips", enabled=progress):
        clips = [(p, load_real(p, seconds)) for p in heldout[genre]]
        loaded = [(p, y) for p, y in clips if y is not None]
        real = [y for _, y in loaded]
        audio["real"][genre] = real
        if real:
            n = min(len(y) for y in real)
            inv = mfcc_to_audio(np.stack([mfcc_of(y[:n]) for y in real]), device=device)
            # centre framing loses < 1 hop at the end; pad so the oracle keeps the clip's length
            audio["oracle"][genre] = [limit_peak(np.pad(y, (0, max(n - len(y), 0)))) for y in inv]
        else:
            audio["oracle"][genre] = []
        files += save_clips(run.recreated_folder("oracle", genre), genre, audio["oracle"][genre], source="oracle")
        files += [{"source": "real", "genre": genre, "file": str(p)} for p, _ in loaded]
    return audio, files


def recreate(
    run_dir: str | Path | RunDir,
    *,
    genres: Sequence[str] = DEFAULT_GENRES,
    per_genre: int = 4,
    seconds: float = 6.0,
    models: Sequence[str] = ("lstm", "dense"),
    guidance: float = 0.0,
    temperature: float = 0.5,
    prompt_frames: int = 16,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    guide_model: str = "cnn",
) -> dict:
    """Recreate ``per_genre`` clips of ``seconds`` per genre with each recreation model, write
    ``RUN/recreated/<model>/<genre>/<genre>.NN.wav`` (plus the inverted real clips under
    ``RUN/recreated/oracle/``), reclassify them with every trained classifier and write
    ``RUN/metrics/fidelity.json`` (schema in :mod:`genrelab.recreation`). Returns that dict.

    ``models`` names ``lstm``/``dense``; when both are asked for, a missing one is skipped
    (recorded under ``"missing"``); none at all is a DatasetError. ``prompt_frames`` real
    frames of a held-out segment start each clip (0: start from the genre's mean frame).
    ``guidance`` > 0 steers the generated MFCCs with the run's trained ``guide_model`` (a map
    classifier of :data:`genrelab.models.MODELS`, ``cnn`` by default).
    """
    run = RunDir(run_dir).require()
    genres, models = list(genres), list(models)
    _check_args(genres, models, per_genre, seconds, prompt_frames, guide_model)
    recs, missing = _recreators(run, models, genres, prompt_frames, device)
    first = next(iter(recs.values()))
    from genrelab.classify import Classifier, trained_classifiers

    classifier_names = [c for c in trained_classifiers(run.root) if c not in RECREATION_MODELS]
    classifiers = {c: Classifier.load(run.root, c, device=device) for c in classifier_names}
    guide_clf = _guide_classifier(run, classifiers, guidance, guide_model, genres)

    heldout, heldout_info = heldout_clips(run, genres, first.val_tracks, classifier_names, n=max(per_genre, 2))
    prompts = prompts_for(run, first, genres, heldout, per_genre, prompt_frames) if prompt_frames else {}
    audio, files = _recreated(
        run,
        recs,
        genres,
        prompts,
        per_genre=per_genre,
        seconds=seconds,
        temperature=temperature,
        seed=seed,
        guide_clf=guide_clf,
        guidance=guidance,
        device=device,
        progress=progress,
    )
    real_audio, real_files = _real_and_oracle(run, heldout, genres, seconds=seconds, device=device, progress=progress)
    all_audio: Audio = {**audio, **real_audio}
    result = {
        "genres": genres,
        "models": list(recs),
        "missing": missing,
        "per_genre": per_genre,
        "seconds": seconds,
        "temperature": temperature,
        "guidance": guidance,
        "prompt_frames": prompt_frames,
        "seed": seed,
        "sr": SR,
        "classifiers": classifier_names,
        "real_clips": heldout_info,
        "sources": {
            **{m: f"recreated by {MODEL_SHORT[m]}" for m in recs},
            "oracle": "real held-out clips -> MFCC -> mfcc_to_audio",
            "real": "real held-out clips, unaltered",
        },
        **reclassify(classifiers, all_audio, files + real_files, genres, progress=progress),
    }
    run.write_metrics("fidelity", result)
    return result


__all__ = ["recreate", "MODEL_SHORT", "DEFAULT_GENRES", "GUIDE_MODELS"]
