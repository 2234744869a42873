"""Find the clips of a GTZAN-style collection under a root folder, in any of its real layouts.

Layouts (checked in this order):

- ``kaggle``: ``<root>/Data/genres_original/<genre>/<genre>.000NN.wav`` (also ``<root>/genres_original``)
- ``gtzan-2002``: ``<root>/genres/<genre>/<genre>.000NN.au`` (the original Marsyas release)
- ``flat-genre``: ``<root>/<genre>/<genre>.000NN.<ext>``
- ``folder-per-label``: ``<root>/<label>/**/<any name>.<ext>``; files in nested folders belong
  to their top-level label folder.

Symbolic links: a link (to a label folder, a nested folder or a clip) that resolves inside
the root is followed; one that resolves outside it is not, and goes to ``Dataset.skipped``
with the reason ``symbolic link to <target> outside <root>``.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from genrelab.audio import AUDIO_EXTENSIONS, info
from genrelab.errors import AudioError, DatasetError

LAYOUTS: tuple[str, ...] = ("gtzan-2002", "kaggle", "flat-genre", "folder-per-label")

# "blues.00012.3" -> track "blues.00012", segment 3 (a word, a dotted number, a dotted segment index)
_SEGMENT = re.compile(r"^([A-Za-z][\w-]*\.\d+)\.\d+$")


@dataclass(frozen=True)
class Clip:
    """One audio file of a collection."""

    path: Path
    label: str  # genre / folder name
    track_id: str  # "blues.00012"


@dataclass
class Dataset:
    """The readable clips under ``root`` and the files that were skipped, with reasons."""

    root: Path
    layout: str
    clips: list[Clip]
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        """Sorted unique labels of the readable clips."""
        return sorted({c.label for c in self.clips})

    def counts(self) -> dict[str, int]:
        """Number of readable clips per label, in label order."""
        out: dict[str, int] = {label: 0 for label in self.labels}
        for c in self.clips:
            out[c.label] += 1
        return out

    def __len__(self) -> int:
        return len(self.clips)


def track_id_of(name: str | os.PathLike[str]) -> str:
    """The track id of a clip or segment name: its base name without audio extension or segment index.

    ``blues.00012.wav``, ``blues/blues.00012.au``, ``blues.00012.3.wav`` and ``blues.00012``
    all give ``blues.00012``; ``My Song.mp3`` gives ``My Song``.
    """
    base = PurePath(os.fspath(name).replace("\\", "/")).name
    stem, ext = os.path.splitext(base)
    if ext.lower() in AUDIO_EXTENSIONS:
        base = stem
    m = _SEGMENT.match(base)
    return m.group(1) if m else base


def discover(root: str | os.PathLike[str], *, check: bool = True) -> Dataset:
    """Find the clips under ``root`` and name its layout.

    With ``check``, each file's header is read (:func:`genrelab.audio.info`); unreadable files
    go to ``Dataset.skipped`` with the reason and discovery goes on. Hidden files and files
    without an audio extension (``AUDIO_EXTENSIONS``) are ignored.

    Symbolic links are followed only while they stay inside ``root``: a label folder, nested
    folder or clip whose real path (every link resolved) lies outside ``root``'s real path is
    not read and goes to ``Dataset.skipped`` with the reason
    ``symbolic link to <target> outside <root>`` (with or without ``check``). A link loop is
    walked once.

    Raises :class:`DatasetError` when ``root`` is missing, is a file, or holds no audio.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise DatasetError(f"{root} is a file; give the folder that holds the genre folders")
    layout, base = _detect(root)
    walk = _Walk(root.resolve())

    files: list[tuple[Path, str]] = []  # (path, label)
    for label_dir in _subdirs(base):
        found = walk.audio_files(label_dir, recursive=layout == "folder-per-label")
        files.extend((p, label_dir.name) for p in found)
    if not files:
        if walk.outside:
            link, reason = walk.outside[0]
            raise DatasetError(
                f"no audio files under {root} besides {len(walk.outside)} symbolic link(s) leading outside it "
                f"({link}: {reason})"
            )
        if _audio_files(root, recursive=False):
            raise DatasetError(
                f"the audio files in {root} are not in label folders; put them in one subfolder per label "
                "(<root>/<label>/<clip>.wav)"
            )
        raise DatasetError(
            f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) found in label folders under {root}; "
            "expected <root>/<genre>/<clip>.wav or the GTZAN/Kaggle layouts"
        )

    clips: list[Clip] = []
    skipped: list[tuple[Path, str]] = list(walk.outside)
    for path, label in files:
        if check:
            try:
                info(path)
            except AudioError as exc:
                skipped.append((path, _reason(exc, path)))
                continue
        clips.append(Clip(path=path, label=label, track_id=track_id_of(path.name)))
    if layout == "folder-per-label":
        clips = _disambiguate(clips, base)
    clips.sort(key=lambda c: (c.label, c.track_id, str(c.path)))
    skipped.sort(key=lambda s: str(s[0]))
    return Dataset(root=root, layout=layout, clips=clips, skipped=skipped)


def _detect(root: Path) -> tuple[str, Path]:
    """``(layout, folder whose subfolders are the labels)``."""
    for base in (root / "Data" / "genres_original", root / "genres_original"):
        if base.is_dir():
            return "kaggle", base
    if (root / "genres").is_dir() and _subdirs(root / "genres"):
        return "gtzan-2002", root / "genres"
    label_dirs = _subdirs(root)
    flat = bool(label_dirs)
    for d in label_dirs:
        names = [p for p in d.iterdir() if not p.name.startswith(".")]
        if any(p.is_dir() for p in names):
            flat = False
            break
        for p in names:
            if p.suffix.lower() in AUDIO_EXTENSIONS and not re.fullmatch(rf"{re.escape(d.name)}\.\d+", p.stem):
                flat = False
                break
        if not flat:
            break
    return ("flat-genre" if flat else "folder-per-label"), root


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


class _Walk:
    """Lists audio files under label folders, following symbolic links only inside ``real_root``."""

    def __init__(self, real_root: Path) -> None:
        self.real_root = real_root
        self.outside: list[tuple[Path, str]] = []  # (link, reason)

    def _inside(self, path: Path) -> bool:
        """True when ``path`` resolves inside the root; otherwise records it as skipped."""
        target = path.resolve()
        if target == self.real_root or target.is_relative_to(self.real_root):
            return True
        self.outside.append((path, f"symbolic link to {target} outside {self.real_root}"))
        return False

    def audio_files(self, folder: Path, *, recursive: bool) -> list[Path]:
        out: list[Path] = []
        if not self._inside(folder):
            return out
        seen: set[Path] = set()
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
            here = Path(dirpath)
            real = here.resolve()
            if real in seen:  # a link loop inside the root
                dirnames[:] = []
                continue
            seen.add(real)
            keep = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
            dirnames[:] = [d for d in keep if self._inside(here / d)]
            names = [f for f in sorted(filenames) if not f.startswith(".")]
            out.extend(
                here / f for f in names if os.path.splitext(f)[1].lower() in AUDIO_EXTENSIONS and self._inside(here / f)
            )
        return out


def _audio_files(folder: Path, *, recursive: bool) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
        out.extend(
            Path(dirpath) / f
            for f in sorted(filenames)
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in AUDIO_EXTENSIONS
        )
    return out


def _disambiguate(clips: list[Clip], base: Path) -> list[Clip]:
    """Give equal track ids that live in different folders distinct ids (``rock/live/01``)."""
    folders: dict[str, set[Path]] = defaultdict(set)
    for c in clips:
        folders[c.track_id].add(c.path.parent)
    out = []
    for c in clips:
        if len(folders[c.track_id]) > 1:
            prefix = c.path.parent.relative_to(base).as_posix()
            c = Clip(path=c.path, label=c.label, track_id=f"{prefix}/{c.track_id}")
        out.append(c)
    return out


def _reason(exc: AudioError, path: Path) -> str:
    """The message of an AudioError without the leading path."""
    msg = str(exc)
    prefix = f"{path}: "
    return msg[len(prefix) :] if msg.startswith(prefix) else msg
