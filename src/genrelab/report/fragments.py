"""Small HTML fragments of the report: tables, inlined figures, audio players, notes.

Each returns a string of HTML in which every piece of text from outside (labels, file names,
cell values, error messages) is escaped with :func:`esc`; the page template marks the joined
section bodies safe, so escaping happens here, once.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

from genrelab.errors import ParameterError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def esc(value: Any) -> str:
    """HTML-escaped text of ``value``."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, *, pct: bool = False) -> str:
    """A number for a table cell (escaped); ``pct`` shows a 0..1 share as a percentage."""
    if value is None:
        return "–"
    if isinstance(value, (bool, int)):
        return esc(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if pct:
            return f"{100 * value:.1f} %"
        if value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.3f}"
    return esc(value)


def percent(value: Any, std: Any = None) -> str:
    """A 0..1 share as ``"62.5 %"``, with ``" ± 5.0"`` when a non-zero ``std`` is given (plain text)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–"
    text = f"{100 * value:.1f} %"
    if isinstance(std, (int, float)) and not isinstance(std, bool) and std:
        text += f" ± {100 * std:.1f}"
    return text


def not_run(what: str) -> str:
    """The note for a part of the study that left no results in the run folder."""
    return f'<p class="notrun">{esc(what)}: not run (no results in this run folder).</p>'


def heading(text: Any, level: int = 3) -> str:
    """An ``<h3>`` (or other level) with escaped text."""
    return f"<h{level}>{esc(text)}</h{level}>"


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    num_from: int = 1,
    row_class: Sequence[str | None] | None = None,
    pct: bool = False,
) -> str:
    """An HTML table; cells from column ``num_from`` on are right-aligned numbers."""
    head = "".join(
        f'<th class="num">{esc(h)}</th>' if i >= num_from else f"<th>{esc(h)}</th>" for i, h in enumerate(header)
    )
    body = []
    for r, row in enumerate(rows):
        cls = row_class[r] if row_class and r < len(row_class) and row_class[r] else None
        cells = "".join(
            f'<td class="num">{fmt(c, pct=pct)}</td>' if i >= num_from else f"<td>{fmt(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f'<tr class="{esc(cls)}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def key_values(items: dict[str, Any]) -> str:
    """A two-column table of ``name | value`` rows."""
    return table(["", "value"], list(items.items()))


def png_figure(data: bytes, caption: str, *, alt: str | None = None) -> str:
    """PNG bytes inlined as a data URI in a ``<figure>`` with a caption."""
    b64 = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img alt="{esc(caption if alt is None else alt)}" src="data:image/png;base64,{b64}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def image(path: Path, caption: str) -> str:
    """A PNG file inlined in a figure; a note when it is not a PNG, nothing when unreadable."""
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    if not data.startswith(PNG_MAGIC):
        return f'<p class="notrun">{esc(path.name)} is not a PNG image; left out.</p>'
    return png_figure(data, caption)


def figure_row(inner: str) -> str:
    """Figures side by side (nothing when ``inner`` is empty)."""
    return f'<div class="figs">{inner}</div>' if inner else ""


def figures(items: Sequence[tuple[Path, str]]) -> str:
    """A row of inlined figures, only those whose file exists."""
    return figure_row("".join(image(p, c) for p, c in items if p.is_file()))


def audio_data_uri(path: Path, *, fmt: str = "ogg") -> str:
    """``data:`` URI of ``path`` re-encoded as FLAC (16-bit) or Ogg Vorbis."""
    import soundfile as sf

    y, sr = sf.read(str(path), dtype="float32", always_2d=False)
    buf = io.BytesIO()
    if fmt == "flac":
        sf.write(buf, y, sr, format="FLAC", subtype="PCM_16")
        mime = "audio/flac"
    elif fmt == "ogg":
        sf.write(buf, y, sr, format="OGG", subtype="VORBIS")
        mime = "audio/ogg"
    else:
        raise ParameterError(f"audio format {fmt!r}; choose from flac, ogg")
    return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def player(path: Path, label: str, *, fmt: str = "ogg") -> str:
    """One ``<audio controls>`` with the clip inlined; a note when it cannot be read."""
    try:
        uri = audio_data_uri(path, fmt=fmt)
    except Exception as exc:  # a damaged wav must not stop the report
        return f'<div class="player"><span>{esc(label)}</span><p class="notrun">unreadable: {esc(exc)}</p></div>'
    return f'<div class="player"><span>{esc(label)}</span><audio controls preload="metadata" src="{uri}"></audio></div>'


def _scalar(v: Any) -> bool:
    """Whether ``v`` is shown as one cell."""
    return v is None or isinstance(v, (int, float, str, bool))


def _flat_dict(v: Any) -> bool:
    """Whether ``v`` is a dict of scalars (one table row)."""
    return isinstance(v, dict) and all(_scalar(x) for x in v.values())


def _columns(rows: Iterable[dict]) -> list[str]:
    """The keys of ``rows`` in first-seen order."""
    cols: list[str] = []
    for v in rows:
        cols += [k for k in v if k not in cols]
    return cols


def json_tables(obj: Any, *, depth: int = 0) -> str:
    """A generic rendering of nested metrics: scalar dicts as key/value tables, dicts of
    scalar dicts as 2-D tables, lists of dicts as row tables, anything deeper as sub-headings."""
    if _scalar(obj):
        return f"<p>{fmt(obj)}</p>"
    if isinstance(obj, list):
        if obj and all(_flat_dict(v) for v in obj):
            cols = _columns(obj)
            return table(cols, [[v.get(c) for c in cols] for v in obj], num_from=1)
        if all(_scalar(v) for v in obj):
            return f"<p>{', '.join(fmt(v) for v in obj)}</p>"
        return "".join(json_tables(v, depth=depth + 1) for v in obj)
    if isinstance(obj, dict):
        if all(_scalar(v) for v in obj.values()):
            return key_values(obj)
        if all(_flat_dict(v) for v in obj.values()):
            cols = _columns(obj.values())
            return table([""] + cols, [[k] + [v.get(c) for c in cols] for k, v in obj.items()])
        out, simple = [], {k: v for k, v in obj.items() if _scalar(v)}
        if simple:
            out.append(key_values(simple))
        out += [heading(k, 4) + json_tables(v, depth=depth + 1) for k, v in obj.items() if not _scalar(v)]
        return "".join(out)
    return f"<p>{esc(obj)}</p>"
