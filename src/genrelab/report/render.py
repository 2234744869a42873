"""Render a run folder into one self-contained ``report.html``.

Everything is inlined: the CSS, plots as base64 PNG data URIs, recreated audio as base64 FLAC
(or Ogg Vorbis) in ``<audio controls>`` players. The file opens from disk with no network.
Each section reads only the run-folder files it needs; a part that was not run gets a short
"not run" note instead of an error. All text from files is escaped.

The sections are declared once, in :data:`SECTIONS`; the page (``report.html``, a Jinja2
template with autoescaping, shipped beside ``style.css``) draws the nav and the sections from
that one list.
"""

from __future__ import annotations

import datetime as _dt
import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from genrelab.errors import DatasetError, ParameterError
from genrelab.io import write_text
from genrelab.report.data_sections import section_data, section_features, section_pca, section_run
from genrelab.report.model_sections import classifier_builder, section_protocols, section_recreation, section_summary
from genrelab.report.run_folder import CLASSIFIERS, RECREATION, AudioOptions, RunFolder

if TYPE_CHECKING:
    import jinja2

AUDIO_FORMATS = ("flac", "ogg")
# Short nav labels of the classifiers; a classifier not listed is shown by its registry name.
NAV_LABELS = {"dense": "Dense", "cnn": "CNN", "convlstm": "ConvLSTM"}


@dataclass(frozen=True)
class Section:
    """One part of the report: its anchor (``id``), heading, nav label and body builder.

    ``build(run)`` returns the section's HTML body, escaped already; a "not run" note when the
    run folder holds nothing for it.
    """

    anchor: str
    title: str
    nav: str
    build: Callable[[RunFolder], str]


def _classifier_section(name: str) -> Section:
    """The section of one classifier of the registry."""
    return Section(f"clf-{name}", f"Classifier: {name}", NAV_LABELS.get(name, name), classifier_builder(name))


SECTIONS: tuple[Section, ...] = (
    Section("summary", "Results at a glance", "Summary", section_summary),
    Section("data", "The data", "Data", section_data),
    Section("features", "Features", "Features", section_features),
    *(_classifier_section(name) for name in CLASSIFIERS),
    Section("protocols", "Protocols and grid", "Protocols", section_protocols),
    Section("recreation", "Recreation", "Recreation", section_recreation),
    Section("pca", "PCA", "PCA", section_pca),
    Section("run", "Configuration, versions and timings", "Run", section_run),
)


@dataclass(frozen=True)
class RenderedSection:
    """A :class:`Section` with its body built for one run and marked safe (what the template draws)."""

    anchor: str
    title: str
    nav: str
    body: str


def _package_text(name: str) -> str:
    """A text file shipped in this package (the template, the CSS)."""
    return resources.files("genrelab.report").joinpath(name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _template() -> "jinja2.Template":
    """The page template, compiled once, with autoescaping on."""
    import jinja2

    env = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.from_string(_package_text("report.html"))


def render_html(run: RunFolder, *, title: str, sections: tuple[Section, ...] = SECTIONS) -> str:
    """The whole page for ``run`` as a string."""
    from markupsafe import Markup

    preset = run.state.get("preset") if isinstance(run.state, dict) else None
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = (
        f"run folder {run.dir.resolve().name}" + (f" · preset {preset}" if preset else "") + f" · rendered {stamp}"
    )
    built = [RenderedSection(s.anchor, s.title, s.nav, Markup(s.build(run))) for s in sections]
    if run.unreadable and built:  # say so at the top: their sections read "not run"
        from genrelab.report.fragments import esc

        note = (
            '<p class="notrun">Unreadable files (corrupt or cut short; rerunning the study remakes them): '
            f"{esc(', '.join(run.unreadable))}.</p>"
        )
        first = built[0]
        built[0] = RenderedSection(first.anchor, first.title, first.nav, Markup(note) + first.body)
    return _template().render(title=title, subtitle=subtitle, css=Markup(_package_text("style.css")), sections=built)


def render_report(
    run_dir: Path,
    *,
    out: Path | None = None,
    title: str = "genrelab study",
    audio_format: str = "ogg",
    players_per_genre: int = 2,
    include_audio: bool = True,
) -> Path:
    """Write ``run_dir/report.html`` (or ``out``) from whatever the run folder holds; return its path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DatasetError(f"run folder {str(run_dir)!r} does not exist")
    if audio_format not in AUDIO_FORMATS:
        raise ParameterError(f"audio_format={audio_format!r}; choose from flac, ogg")
    audio = AudioOptions(fmt=audio_format, players_per_genre=players_per_genre, include=include_audio)
    run = RunFolder(run_dir, audio=audio)
    return write_text(out or run_dir / "report.html", render_html(run, title=title))


__all__ = ["SECTIONS", "Section", "CLASSIFIERS", "RECREATION", "render_html", "render_report"]
