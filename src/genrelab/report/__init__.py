"""The self-contained HTML report of a run folder."""

from genrelab.report.render import render_report

__all__ = ["render_report"]
