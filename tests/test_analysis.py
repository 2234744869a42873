"""PCA and separability (genrelab.analysis)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from genrelab.analysis import bhattacharyya, fit_pca, run_pca, separability
from genrelab.errors import DatasetError, ParameterError
from genrelab.io import read_json

GENRES = ("classical", "pop", "metal", "blues")


def _clusters(sep: float, n: int = 12, d: int = 57, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(GENRES), d)) * sep
    x = np.concatenate([c + rng.standard_normal((n, d)) for c in centres])
    return x, np.repeat(GENRES, n)


def test_separability_invariants() -> None:
    x, y = _clusters(sep=3.0)
    s, pipe = separability(x, y, GENRES)
    ratios = np.array(s["explained_variance_ratio"])
    assert np.all(ratios >= 0) and ratios.sum() <= 1 + 1e-9
    assert np.all(np.diff(ratios) <= 1e-12)  # sorted, largest first
    assert -1 <= s["silhouette"] <= 1 and -1 <= s["silhouette_features"] <= 1
    assert s["n_clips"] == len(y) == sum(s["n_per_genre"].values())
    for g1 in GENRES:
        assert s["overlap"][g1][g1] == pytest.approx(1.0)
        for g2 in GENRES:
            assert 0 <= s["overlap"][g1][g2] <= 1
            assert s["overlap"][g1][g2] == pytest.approx(s["overlap"][g2][g1])
    # the per-genre variances are the variances of the PC scores of that genre's rows
    z = pipe.transform(x)
    np.testing.assert_allclose(s["per_genre_variance"]["pop"], z[y == "pop", :3].var(0, ddof=1), rtol=1e-9)


def test_separated_clusters_score_higher_than_mixed() -> None:
    far, _ = separability(*_clusters(sep=3.0), GENRES)
    mixed, _ = separability(*_clusters(sep=0.0), GENRES)
    assert far["silhouette"] > 0.5 > mixed["silhouette"]
    off = lambda s: np.mean([s["overlap"][a][b] for a in GENRES for b in GENRES if a != b])  # noqa: E731
    assert off(far) < 0.05 and off(mixed) > 0.3


def test_bhattacharyya_known_values() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2000, 2))
    assert bhattacharyya(a, a) == pytest.approx(1.0)
    # equal covariances S, mean shift d: BC = exp(-d' S^-1 d / 8); about exp(-0.5) for S ~ I, |d| = 2
    d = np.array([2.0, 0.0])
    exact = np.exp(-d @ np.linalg.solve(np.cov(a, rowvar=False), d) / 8)
    assert bhattacharyya(a, a + d) == pytest.approx(exact, rel=1e-9)
    assert bhattacharyya(a, a + d) == pytest.approx(np.exp(-0.5), rel=0.02)
    assert bhattacharyya(a, a + 50.0) < 1e-6


def test_fit_pca_rejects_one_row() -> None:
    with pytest.raises(ParameterError, match="2 rows"):
        fit_pca(np.zeros((1, 57)))


def _tone(f0: float, seconds: float, rng: np.random.Generator, noise: float) -> np.ndarray:
    t = np.arange(int(seconds * 22050)) / 22050
    y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3)) + noise * rng.standard_normal(t.size)
    return (0.8 * y / np.max(np.abs(y))).astype(np.float32)


@pytest.fixture(scope="module")
def pca_run(tmp_path_factory) -> Path:
    """A run folder with 3 recreated 3 s clips per genre and a small original feature table."""
    from genrelab.features import FEATURE_COLUMNS

    run = tmp_path_factory.mktemp("pca_run")
    rng = np.random.default_rng(0)
    for gi, g in enumerate(GENRES):
        for i in range(3):
            path = run / "recreated" / "lstm" / g / f"{g}.{i:02d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, _tone(110 * 2 ** gi * (1 + 0.03 * i), 3.0, rng, noise=0.05 * (gi + 1)), 22050)
    rows = rng.standard_normal((16, len(FEATURE_COLUMNS)))
    table = pd.DataFrame(rows, columns=FEATURE_COLUMNS)
    table.insert(0, "filename", [f"x{i}.wav" for i in range(16)])
    table["label"] = np.repeat(GENRES, 4)
    (run / "features").mkdir()
    table.to_csv(run / "features" / "features.csv", index=False)
    return run


def test_run_pca_writes_json_and_plots(pca_run: Path) -> None:
    out = run_pca(pca_run, progress=False)
    written = read_json(pca_run / "metrics" / "pca.json")
    assert set(written["sources"]) == {"lstm", "original"} == set(out["sources"])
    for source, s in written["sources"].items():
        assert sum(s["explained_variance_ratio"]) <= 1 + 1e-9
        assert -1 <= s["silhouette"] <= 1
    assert written["sources"]["lstm"]["n_per_genre"] == {g: 3 for g in GENRES}
    for name in ("pca_scatter", "pca_variance", "pca_genre_variance"):
        assert (pca_run / "plots" / f"{name}.png").stat().st_size > 0


def test_run_pca_errors(tmp_path: Path, pca_run: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        run_pca(tmp_path / "missing", progress=False)
    with pytest.raises(DatasetError, match="genrelab recreate"):
        run_pca(tmp_path, progress=False)
    with pytest.raises(ParameterError, match="two genres"):
        run_pca(pca_run, genres=("pop",), progress=False)
