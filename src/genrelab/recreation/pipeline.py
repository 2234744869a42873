"""recreate(): generate -> (guide) -> invert -> wav -> reclassify -> ``metrics/fidelity.json``."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from genrelab.constants import RECREATION_GENRES, SR
from genrelab.dsp.filters import dct_basis
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
from genrelab.recreation.diffusion import NAME as DIFFUSION
from genrelab.recreation.diffusion import MelGenerator
from genrelab.recreation.fidelity import Audio, reclassify
from genrelab.recreation.generator import Recreator, frames_for, generate
from genrelab.recreation.guidance import guide
from genrelab.recreation.heldout import classifier_test_tracks, heldout_clips, prompts_for
from genrelab.recreation.judging import Clips, judge_sources, motion_report
from genrelab.recreation.training import RECREATION_MODELS
from genrelab.rundir import RunDir

DEFAULT_GENRES: tuple[str, ...] = RECREATION_GENRES
MODEL_SHORT: dict[str, str] = {n.removeprefix("recreate-"): n for n in RECREATION_MODELS}  # lstm, dense
GUIDE_MODELS: tuple[str, ...] = tuple(n for n, s in MODELS.items() if s.kind == "maps")
JUDGE_MODELS: tuple[str, ...] = GUIDE_MODELS  # the judge reads generated maps too: a map classifier
EXCERPTS_PER_TRACK = 2  # real excerpts of ``seconds`` taken from each held-out track


def _check_args(
    genres: list[str],
    models: list[str],
    per_genre: int,
    seconds: float,
    prompt_frames: int,
    guide_model: str,
    judge: str,
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
    if judge not in JUDGE_MODELS:
        raise ParameterError(f"judge={judge!r} must be a map classifier; choose from {list(JUDGE_MODELS)}")
    if judge == guide_model:
        raise ParameterError(f"judge={judge!r} is the guidance model; the judge must take no part in making the clips")


def _recreators(
    run: RunDir, models: list[str], genres: list[str], prompt_frames: int, device: str
) -> tuple[dict[str, Recreator | MelGenerator], list[str]]:
    """The trained recreation models asked for (``{short name: generator}``) and the missing ones."""
    recs: dict[str, Recreator | MelGenerator] = {}
    missing = []
    for m in models:
        loader = MelGenerator.load if MODEL_SHORT[m] == DIFFUSION else partial(Recreator.load, name=MODEL_SHORT[m])
        if run.has_model(MODEL_SHORT[m]):
            recs[m] = loader(run, device=device)
        elif len(models) == 1:
            loader(run)  # raises the one-sentence error
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
    first = _first_next_frame(recs)
    if first is not None and prompt_frames and prompt_frames <= first.config.context:
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


def _classifiers(run: RunDir, device: str) -> dict[str, Any]:
    """Every trained classifier of the run, loaded (registry order)."""
    from genrelab.classify import Classifier, trained_classifiers

    names = [c for c in trained_classifiers(run.root) if c not in RECREATION_MODELS]
    return {c: Classifier.load(run.root, c, device=device) for c in names}


def _classifier_frames(clf: Any) -> int:
    """Frames per window the map classifier was trained on (130 for 3 s maps)."""
    frames = getattr(clf, "frames", None)
    return int(frames) if frames else 130


def _first_next_frame(recs: dict[str, Recreator | MelGenerator]) -> Recreator | None:
    """The first next-frame (MFCC) model among ``recs``: it gives the prompts' context."""
    return next((r for r in recs.values() if isinstance(r, Recreator)), None)


def generate_maps(
    rec: Recreator | MelGenerator,
    genres: list[str],
    *,
    frames: int,
    prompts: np.ndarray | None,
    temperature: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One generator's output for ``genres``: MFCC maps ``(B, n_mfcc, frames)`` and, for a mel-resolution
    generator, its log-mel ``(B, 128, frames)`` in dB (None for the MFCC next-frame models)."""
    if isinstance(rec, MelGenerator):
        return rec.generate(genres, frames=frames, seed=seed)
    return generate(rec, genres, frames=frames, prompts=prompts, temperature=temperature, seed=seed), None


def _to_audio(mf: np.ndarray, mel_db: np.ndarray | None, *, n_samples: int, device: str) -> list[np.ndarray]:
    """Waveforms ``[(n_samples,)]``: from the mel spectrogram when there is one, else from the MFCCs."""
    from genrelab.invert import mel_to_audio

    if mel_db is not None:
        power = np.power(10.0, np.asarray(mel_db, np.float64) / 10.0)  # (B, 128, F)
        ys = np.asarray(mel_to_audio(power, device=device, max_iter=300))
    else:
        ys = mfcc_to_audio(mf, device=device)
    return [limit_peak(np.pad(y, (0, max(n_samples - len(y), 0)))[:n_samples]) for y in ys]


def _recreated(
    run: RunDir,
    recs: dict[str, Recreator | MelGenerator],
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
) -> tuple[dict[str, dict[str, Clips]], list[dict]]:
    """Generate, guide, invert and write each model's clips: ``({model: {genre: Clips}}, file records)``."""
    frames = frames_for(seconds)
    n_samples = int(round(seconds * SR))
    out: dict[str, dict[str, Clips]] = {}
    files: list[dict] = []
    for m, rec in recs.items():
        out[m] = {}
        for genre in track(genres, description=f"recreate {m}", enabled=progress):
            # a stable seed per (seed, model, genre): the same clips whichever other models/genres run
            s = int(np.random.SeedSequence([seed, list(MODEL_SHORT).index(m), *genre.encode()]).generate_state(1)[0])
            mf, mel_db = generate_maps(
                rec, [genre] * per_genre, frames=frames, prompts=prompts.get(genre), temperature=temperature, seed=s
            )
            if guide_clf is not None:
                mf, mel_db = _steer(rec, guide_clf, genre, mf, mel_db, weight=guidance, device=device)
            ys = _to_audio(mf, mel_db, n_samples=n_samples, device=device)
            out[m][genre] = Clips(audio=ys, maps=list(mf))
            files += save_clips(run.recreated_folder(m, genre), genre, ys, source=m)
    return out, files


def _steer(
    rec: Any, clf: Any, genre: str, mf: np.ndarray, mel_db: np.ndarray | None, *, weight: float, device: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Classifier guidance of one genre's generated maps: the MFCCs of a next-frame model, frame
    by frame; the log-mel of the diffusion model by one offset per band and clip (its MFCCs are
    then the DCT of the steered log-mel, clamped to the training range). Returns ``(mfcc (B, 20, T), log_mel (B, 128, T) or None)``."""
    targets = [clf.labels.index(genre)] * len(mf)
    frames = _classifier_frames(clf)
    if isinstance(rec, Recreator) or mel_db is None:
        return guide(mf, targets, clf.module, weight=weight, frames=frames, std=rec.std, device=device), mel_db
    basis = torch.from_numpy(np.array(dct_basis(mel_db.shape[1], mf.shape[1]), np.float32)).to(device)  # (M, C)
    mel = guide(
        mel_db,
        targets,
        clf.module,
        weight=weight,
        frames=frames,
        std=rec.projection.std,
        device=device,
        to_mfcc=lambda m: torch.einsum("mc,bmt->bct", basis, m),
        per_frame=False,  # timbre only: the diffusion model's motion is left as it drew it
    )
    mel = np.clip(mel, *rec.mel_range).astype(np.float32)  # (B, M, T) dB
    return rec.mfcc_of(mel), mel


def _real_excerpts(paths: list[Path], seconds: float) -> tuple[list[np.ndarray], list[str], list[Path]]:
    """Up to :data:`EXCERPTS_PER_TRACK` non-overlapping ``seconds`` excerpts of each real clip:
    ``(excerpts [(n,)], track id of each, the paths read)``; unreadable or too short clips are left out."""
    n = int(round(seconds * SR))
    ys, groups, used = [], [], []
    for p in paths:
        y = load_real(p, seconds * EXCERPTS_PER_TRACK)
        if y is None or len(y) < n:
            continue
        used.append(p)
        for k in range(min(EXCERPTS_PER_TRACK, len(y) // n)):
            ys.append(y[k * n : (k + 1) * n])
            groups.append(Path(p).name.rsplit(".", 1)[0])
    return ys, groups, used


def _real_and_oracles(
    run: RunDir, heldout: dict[str, list[Path]], genres: list[str], *, seconds: float, device: str, progress: bool
) -> tuple[dict[str, dict[str, Clips]], list[dict]]:
    """The real held-out excerpts, and the same through MFCC -> audio (``oracle``) and through the
    log-mel -> audio (``oracle-mel``): what inversion alone costs at each resolution."""
    from genrelab.features import log_mel

    out: dict[str, dict[str, Clips]] = {"real": {}, "oracle": {}, "oracle-mel": {}}
    files: list[dict] = []
    n = int(round(seconds * SR))
    for genre in track(genres, description="oracle clips", enabled=progress):
        real, groups, used = _real_excerpts(heldout[genre], seconds)
        if heldout[genre] and not used:
            raise DatasetError(
                f"none of the {len(heldout[genre])} held-out {genre} clips could be read as {seconds:g} s of audio "
                f"(the first: {heldout[genre][0]}); the run's features/clips.csv names them"
            )
        out["real"][genre] = Clips(audio=real, groups=groups)
        mf = np.stack([mfcc_of(y) for y in real]) if real else np.zeros((0, 20, 2), np.float32)
        mel = np.stack([log_mel(y, sr=SR) for y in real]) if real else None
        out["oracle"][genre] = Clips(
            audio=_to_audio(mf, None, n_samples=n, device=device) if real else [], groups=groups
        )
        out["oracle-mel"][genre] = Clips(
            audio=_to_audio(mf, mel, n_samples=n, device=device) if real else [], groups=groups
        )
        for source in ("oracle", "oracle-mel"):
            files += save_clips(run.recreated_folder(source, genre), genre, out[source][genre].audio, source=source)
        files += [{"source": "real", "genre": genre, "file": str(p)} for p in used]
    return out, files


def _judge(run: RunDir, classifiers: dict[str, Any], judge: str) -> tuple[Any, set[str]]:
    """The judge classifier and its test tracks, checked: trained, and no judged real track in its training."""
    if judge not in classifiers:
        raise DatasetError(
            f"the judge {judge!r} is not trained in {run.models}; train it with "
            f"`genrelab train DATA --model {judge} --out {run}`"
        )
    test = classifier_test_tracks(run, judge)
    if test is None:
        raise DatasetError(
            f"{run.metrics_file(judge)} does not record its test tracks; retrain {judge} so the "
            "judge can be checked against the clips it judges"
        )
    return classifiers[judge], test


def _only_unseen(real: dict[str, dict[str, Clips]], tracks: set[str]) -> dict[str, dict[str, Clips]]:
    """The sources restricted to clips of real tracks in ``tracks`` (the judge's test side)."""
    out: dict[str, dict[str, Clips]] = {}
    for source, by_genre in real.items():
        out[source] = {}
        for g, c in by_genre.items():
            keep = [i for i, t in enumerate(c.groups) if t in tracks]
            out[source][g] = Clips(audio=[c.audio[i] for i in keep], groups=[c.groups[i] for i in keep])
    return out


def _assemble(
    *,
    locals_: dict[str, Any],
    generated: dict[str, dict[str, Clips]],
    real: dict[str, dict[str, Clips]],
    files: list[dict],
    classifiers: dict[str, Any],
    judge_clf: Any,
    judge_test: set[str],
    guide: str | None,
    progress: bool,
) -> dict[str, Any]:
    """fidelity.json: the settings, every classifier's reclassification, the judge's and the motion report."""
    genres = locals_["genres"]
    judged = {**generated, **_only_unseen(real, judge_test)}
    judged_tracks = {t for c in judged["real"].values() for t in c.groups}
    all_audio: Audio = {s: {g: c.audio for g, c in by.items()} for s, by in {**generated, **real}.items()}
    return {
        **locals_,
        "sources": _sources(locals_["models"]),
        "judge": {
            **judge_sources(judge_clf, judged, genres, progress=progress),
            "guide": guide,
            "judged_real_tracks": sorted(judged_tracks),
            "judged_real_tracks_not_on_its_test_side": sorted(judged_tracks - judge_test),
        },
        "motion": motion_report(judged, genres, mfcc_of=mfcc_of, progress=progress),
        **reclassify(classifiers, all_audio, files, genres, progress=progress),
    }


def _sources(models: list[str]) -> dict[str, str]:
    """What each source of fidelity.json is."""
    return {
        **{m: f"recreated by {MODEL_SHORT[m]}" for m in models},
        "oracle": "real held-out excerpts -> MFCC -> mfcc_to_audio",
        "oracle-mel": "real held-out excerpts -> log-mel (128 bands) -> mel_to_audio",
        "real": "real held-out excerpts, unaltered",
    }


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
    judge: str = "convlstm",
) -> dict:
    """Recreate ``per_genre`` clips of ``seconds`` per genre with each recreation model, write
    ``RUN/recreated/<model>/<genre>/<genre>.NN.wav`` (plus the inverted real clips under
    ``RUN/recreated/oracle/`` and ``oracle-mel/``), reclassify them with every trained classifier,
    judge them with ``judge`` and write ``RUN/metrics/fidelity.json`` (schema in
    :mod:`genrelab.recreation`). Returns that dict.

    ``models``: short names of the registry's recreation models (a missing one is skipped when
    several are asked for); ``prompt_frames`` real frames start the next-frame models' clips;
    ``guidance`` > 0 steers their MFCCs with ``guide_model``; ``judge``, never the guide, judges
    only real clips on its own test side.
    """
    run = RunDir(run_dir).require()
    genres, models = list(genres), list(models)
    _check_args(genres, models, per_genre, seconds, prompt_frames, guide_model, judge)
    recs, missing = _recreators(run, models, genres, prompt_frames, device)
    first = _first_next_frame(recs)
    classifiers = _classifiers(run, device)
    classifier_names = list(classifiers)
    guide_clf = _guide_classifier(run, classifiers, guidance, guide_model, genres)
    val_tracks = sorted({t for r in recs.values() for t in r.val_tracks})
    heldout, heldout_info = heldout_clips(run, genres, val_tracks, classifier_names, n=max(per_genre, 2))
    judge_clf, judge_test = _judge(run, classifiers, judge)
    prompts = prompts_for(run, first, genres, heldout, per_genre, prompt_frames) if prompt_frames and first else {}
    generated, files = _recreated(
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
    real, real_files = _real_and_oracles(run, heldout, genres, seconds=seconds, device=device, progress=progress)
    result = _assemble(
        locals_=dict(
            genres=genres,
            models=list(recs),
            missing=missing,
            per_genre=per_genre,
            seconds=seconds,
            temperature=temperature,
            guidance=guidance,
            prompt_frames=prompt_frames,
            seed=seed,
            sr=SR,
            classifiers=classifier_names,
            real_clips=heldout_info,
        ),
        generated=generated,
        real=real,
        files=files + real_files,
        classifiers=classifiers,
        judge_clf=judge_clf,
        judge_test=judge_test,
        guide=guide_model if guide_clf is not None else None,
        progress=progress,
    )
    run.write_metrics("fidelity", result)
    return result


__all__ = ["recreate", "generate_maps", "MODEL_SHORT", "DEFAULT_GENRES", "GUIDE_MODELS", "JUDGE_MODELS"]
