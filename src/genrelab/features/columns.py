"""Column names of the public GTZAN feature CSVs (``features_30_sec.csv`` / ``features_3_sec.csv``)."""

from __future__ import annotations

_SPECTRAL = (
    "chroma_stft",
    "rms",
    "spectral_centroid",
    "spectral_bandwidth",
    "rolloff",
    "zero_crossing_rate",
    "harmony",
    "perceptr",
)

#: The 57 feature names in the public CSV order (chroma_stft_mean ... mfcc20_var).
FEATURE_COLUMNS: list[str] = (
    [f"{name}_{stat}" for name in _SPECTRAL for stat in ("mean", "var")]
    + ["tempo"]
    + [f"mfcc{k}_{stat}" for k in range(1, 21) for stat in ("mean", "var")]
)

#: Columns of a clip-level table: ``filename, length, <57 features>, label``.
TABLE_COLUMNS: list[str] = ["filename", "length", *FEATURE_COLUMNS, "label"]

#: Columns of a segmented table: the clip-level layout plus ``segment`` (after ``label``).
SEGMENT_TABLE_COLUMNS: list[str] = [*TABLE_COLUMNS, "segment"]


def feature_columns(n_mfcc: int = 20) -> list[str]:
    """The feature names for ``n_mfcc`` coefficients (57 for the default 20)."""
    return (
        [f"{name}_{stat}" for name in _SPECTRAL for stat in ("mean", "var")]
        + ["tempo"]
        + [f"mfcc{k}_{stat}" for k in range(1, n_mfcc + 1) for stat in ("mean", "var")]
    )
