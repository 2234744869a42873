"""Datasets: discovering GTZAN-style collections, split protocols, the synthesised corpus."""

from __future__ import annotations

from typing import Any

from genrelab.data.gtzan import LAYOUTS, Clip, Dataset, discover, track_id_of
from genrelab.data.splits import Split, check_no_leak, make_splits, parse_protocol

__all__ = [
    "LAYOUTS",
    "Clip",
    "Dataset",
    "discover",
    "track_id_of",
    "Split",
    "check_no_leak",
    "make_splits",
    "parse_protocol",
]  # synthesise_corpus is loaded lazily (below), so it is left out of star imports


def __getattr__(name: str) -> Any:
    """Import the synthesiser (numpy/scipy heavy) only when it is asked for."""
    if name == "synthesise_corpus":
        from genrelab.data.synth import synthesise_corpus

        return synthesise_corpus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
