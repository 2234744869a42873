"""genrelab: music-genre research on GTZAN-style collections."""

import os as _os

# PyTorch's CPU build parallelises with GNU OpenMP, whose idle threads spin. On a busy 2-core
# machine that made small torch workloads 10-20x slower with 2 threads (measured: one 30 s MFCC
# inversion took 10.9 s of CPU instead of 0.75 s). Passive waiting removes that pathology and
# lets idle threads sleep instead. It must be set before torch is imported.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

from genrelab.constants import GENRES  # noqa: E402  (after the OpenMP setting)

__all__ = ["GENRES", "__version__"]
