"""The defaults every part of genrelab shares: one place, imported everywhere else."""

from __future__ import annotations

SR: int = 22050  # sample rate every feature, map and recreated clip is computed at
N_FFT: int = 2048
HOP_LENGTH: int = 512
N_MFCC: int = 20
N_MELS: int = 128
SEGMENT_SECONDS: float = 3.0  # the MFCC maps' segment length (130 frames at SR / HOP_LENGTH)
TINY32: float = 2.0**-126  # float32's smallest normal number (np.finfo(np.float32).tiny): the float32 kernels' floor

GENRES: tuple[str, ...] = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)
RECREATION_GENRES: tuple[str, ...] = ("classical", "pop", "metal", "blues")  # the source study's four

__all__ = ["SR", "N_FFT", "HOP_LENGTH", "N_MFCC", "N_MELS", "SEGMENT_SECONDS", "TINY32", "GENRES", "RECREATION_GENRES"]
