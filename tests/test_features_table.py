"""Feature tables: layout, segments, cache/resume, skipped files, workers, Dask, prepare, CLI."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from typer.testing import CliRunner

from genrelab.errors import DatasetError, ParameterError
from genrelab.features import (
    FEATURE_COLUMNS,
    TABLE_COLUMNS,
    MapSet,
    extract_clip,
    extract_table,
    load_maps,
    prepare,
    save_maps,
)
from genrelab.features import table as table_module

SR = 22050


def _tone(seconds: float, freq: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(t.size)
    y[:: SR // 2] += 0.5  # clicks
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Two genres x one 6.5 s clip, plus broken files: a text file named .wav, a 0.3 s clip, silence."""
    root = tmp_path_factory.mktemp("fx_corpus")
    for gi, genre in enumerate(("blues", "metal")):
        (root / genre).mkdir()
        sf.write(root / genre / f"{genre}.00000.wav", _tone(6.5, 220 * (gi + 1), gi), SR)
    (root / "blues" / "blues.00001.wav").write_text("this is not audio\n")
    sf.write(root / "metal" / "metal.00001.wav", _tone(0.3, 330, 5), SR)  # under the 0.5 s floor
    sf.write(root / "metal" / "metal.00002.wav", np.zeros(4 * SR, dtype=np.float32), SR)
    return root


def _files(root: Path) -> list[Path]:
    return sorted(root.glob("*/*.wav"))


def test_table_layout_and_values(corpus: Path) -> None:
    good = [corpus / "blues" / "blues.00000.wav", corpus / "metal" / "metal.00000.wav"]
    df = extract_table(good, progress=False)
    assert list(df.columns) == TABLE_COLUMNS
    assert df["filename"].tolist() == ["blues.00000.wav", "metal.00000.wav"]
    assert df["label"].tolist() == ["blues", "metal"]
    assert df["length"].tolist() == [int(6.5 * SR)] * 2
    y, _ = sf.read(good[1], dtype="float32")
    expected = extract_clip(y)
    np.testing.assert_allclose(df.loc[1, FEATURE_COLUMNS].to_numpy(float), [expected[c] for c in FEATURE_COLUMNS])


def test_public_csv_header_matches(gtzan_dir: Path) -> None:
    header = pd.read_csv(gtzan_dir / "features_30_sec.csv", nrows=0).columns.tolist()
    assert header == TABLE_COLUMNS


def test_segments_are_named_like_the_public_csv(corpus: Path, tmp_path: Path) -> None:
    df = extract_table([corpus / "blues" / "blues.00000.wav"], segment=3.0, maps_dir=tmp_path, progress=False)
    assert list(df.columns) == [*TABLE_COLUMNS, "segment"]
    assert df["filename"].tolist() == ["blues.00000.0.wav", "blues.00000.1.wav"]  # 6.5 s -> two 3 s pieces
    assert df["segment"].tolist() == [0, 1]
    assert df["length"].tolist() == [66150, 66150]
    maps = load_maps(tmp_path / "maps.npz")
    assert maps.maps.shape == (2, 20, 130)
    assert maps.track.tolist() == ["blues.00000"] * 2
    assert maps.filename.tolist() == df["filename"].tolist()
    y, _ = sf.read(corpus / "blues" / "blues.00000.wav", dtype="float32")
    second = extract_clip(y[66150:132300])
    assert df.loc[1, "mfcc3_mean"] == pytest.approx(second["mfcc3_mean"], rel=1e-9)


def test_skipped_files_are_listed_and_the_batch_goes_on(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    df = extract_table(_files(corpus), out=out, progress=False)
    assert df["filename"].tolist() == ["blues.00000.wav", "metal.00000.wav"]
    skipped = pd.read_csv(tmp_path / "skipped.csv")
    reasons = dict(zip(skipped["path"].map(lambda p: Path(p).name), skipped["reason"]))
    assert set(reasons) == {"blues.00001.wav", "metal.00001.wav", "metal.00002.wav"}
    assert "not readable" in reasons["blues.00001.wav"]
    assert reasons["metal.00001.wav"].startswith("too short")
    assert reasons["metal.00002.wav"] == "silent"
    assert len(df.attrs["skipped"]) == 3
    assert pd.read_parquet(out.with_suffix(".parquet")).equals(pd.read_csv(out))


def test_rerun_resumes_from_the_cache(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    files = [corpus / "blues" / "blues.00000.wav", corpus / "metal" / "metal.00000.wav"]
    out = tmp_path / "t.csv"
    first = extract_table(files, out=out, progress=False)
    assert (first.attrs["n_computed"], first.attrs["n_cached"]) == (2, 0)

    calls: list[str] = []
    real = table_module.process_clip
    monkeypatch.setattr(table_module, "process_clip", lambda path, s: calls.append(path) or real(path, s))
    again = extract_table(files, out=out, progress=False)
    assert calls == [] and again.attrs["n_cached"] == 2
    pd.testing.assert_frame_equal(again, first)

    # a lost cache entry (a killed run) or a touched file is recomputed; nothing else is
    entries = sorted((tmp_path / "cache").glob("*.npz"))
    assert len(entries) == 2
    os.utime(files[1], ns=(1, 1))
    third = extract_table(files, out=out, progress=False)
    assert calls == [str(files[1])] and third.attrs["n_cached"] == 1
    # other settings do not reuse these entries
    extract_table(files[:1], out=out, segment=3.0, progress=False)
    assert calls[-1] == str(files[0])


def test_two_worker_processes_give_the_same_table(corpus: Path) -> None:
    files = [corpus / "blues" / "blues.00000.wav", corpus / "metal" / "metal.00000.wav"]
    local = extract_table(files, progress=False)
    pooled = extract_table(files, workers=2, progress=False)
    pd.testing.assert_frame_equal(pooled, local)


def _pid_of_worker(path: str, settings: object) -> dict:
    return {"pid": os.getpid(), "path": path}


def test_workers_start_once_for_the_whole_folder() -> None:
    """One pool serves every clip of a call: 24 tasks on 2 workers run in 2 processes (not one per clip)."""
    from genrelab.features.workers import run_local

    todo = [(i, f"clip{i}.wav") for i in range(24)]
    done = dict(run_local(_pid_of_worker, todo, None, 2))
    assert sorted(done) == list(range(24))
    pids = {r["pid"] for r in done.values()}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids


def test_dask_cluster_gives_the_same_table(corpus: Path) -> None:
    distributed = pytest.importorskip("dask.distributed")
    files = [corpus / "blues" / "blues.00000.wav", corpus / "metal" / "metal.00000.wav"]
    local = extract_table(files, segment=3.0, progress=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = extract_table(files, segment=3.0, scheduler=cluster.scheduler_address, progress=False)
    pd.testing.assert_frame_equal(remote, local)


def test_bad_options_are_parameter_errors(corpus: Path) -> None:
    files = [corpus / "blues" / "blues.00000.wav"]
    with pytest.raises(ParameterError, match="workers=0"):
        extract_table(files, workers=0, progress=False)
    with pytest.raises(ParameterError, match=r"segment=0.25 must be a number of seconds >= 0.5"):
        extract_table(files, segment=0.25, progress=False)
    with pytest.raises(ParameterError, match="scheduler"):
        extract_table(files, scheduler="nonsense://nowhere", progress=False)


def test_maps_round_trip(tmp_path: Path) -> None:
    m = MapSet(maps=np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4), filename=["a.0.wav", "a.1.wav"],
               track=["a", "a"], label=["rock", "rock"], segment=[0, 1])
    save_maps(tmp_path / "m.npz", m)
    back = load_maps(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.maps, m.maps)
    assert back.filename.tolist() == ["a.0.wav", "a.1.wav"] and back.segment.tolist() == [0, 1]
    np.savez(tmp_path / "bad.npz", maps=m.maps)
    with pytest.raises(DatasetError, match="filename"):
        load_maps(tmp_path / "bad.npz")


def test_prepare_from_audio_folder(tiny_corpus: Path, tmp_path: Path) -> None:
    fs = prepare(tiny_corpus, tmp_path, progress=False)
    assert list(fs.table.columns) == TABLE_COLUMNS
    assert len(fs.table) == 16
    assert fs.maps is not None and fs.maps.maps.shape == (32, 20, 130)  # 6 s clips -> two 3 s maps each
    assert set(fs.maps.track) == set(fs.clips["track"])
    assert fs.skipped.empty
    for name in ("features.csv", "features.parquet", "maps.npz", "clips.csv", "skipped.csv"):
        assert (tmp_path / "features" / name).is_file()
    again = prepare(tiny_corpus, tmp_path, progress=False)  # resumes from the cache
    pd.testing.assert_frame_equal(again.table, fs.table)
    np.testing.assert_array_equal(again.maps.maps, fs.maps.maps)


def test_prepare_from_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.random((4, len(FEATURE_COLUMNS))), columns=FEATURE_COLUMNS)
    df.insert(0, "length", 661794)
    df.insert(0, "filename", [f"rock.{i:05d}.wav" for i in range(4)])
    df["label"] = "rock"
    df.to_csv(tmp_path / "f.csv", index=False)
    fs = prepare(tmp_path / "f.csv", tmp_path / "run", progress=False)
    assert fs.maps is None and fs.clips is None
    pd.testing.assert_frame_equal(fs.table, df)
    df.drop(columns=["tempo", "mfcc3_var"]).to_csv(tmp_path / "g.csv", index=False)
    with pytest.raises(DatasetError, match=r"tempo.*mfcc3_var"):
        prepare(tmp_path / "g.csv", tmp_path / "run", progress=False)
    with pytest.raises(DatasetError, match="does not exist"):
        prepare(tmp_path / "missing", tmp_path / "run", progress=False)


def test_cli_extract(corpus: Path, tmp_path: Path) -> None:
    from genrelab.cli import app

    out = tmp_path / "table.csv"
    result = CliRunner().invoke(app, ["extract", str(corpus), "-o", str(out), "--segment", "3", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "4 rows" in result.output and "3 skipped" in result.output
    df = pd.read_csv(out)
    assert list(df.columns) == [*TABLE_COLUMNS, "segment"] and len(df) == 4
    assert len(pd.read_csv(tmp_path / "skipped.csv")) == 3
    again = CliRunner().invoke(app, ["extract", str(corpus), "-o", str(out), "--segment", "3", "--no-progress"])
    assert "from cache" in again.output and "0 extracted" in again.output
    bad = CliRunner().invoke(app, ["extract", str(tmp_path / "nope"), "-o", str(out)])
    assert bad.exit_code == 2 and "error:" in bad.output


_WARMED: list[int] = []


def _warm_mark() -> None:
    _WARMED.append(os.getpid())


def _warm_fails() -> None:
    raise RuntimeError("warm-up failed")


def _warmed_in_worker(path: str, settings: object) -> dict:
    import gc

    return {"pid": os.getpid(), "warmed": list(_WARMED), "gc": gc.isenabled(), "frozen": gc.get_freeze_count()}


@pytest.mark.parametrize("warm", [_warm_mark, _warm_fails])
def test_a_started_pool_warms_each_worker_and_serves_run_local(warm) -> None:
    """``pool(warm=...)`` runs ``warm`` in every worker before its tasks (a failing warm-up is ignored);
    ``start`` forks them at once; run_local uses the pool given and leaves it running for its owner."""
    from genrelab.features.workers import pool, run_local, start

    with start(pool(2, warm=warm), 2) as executor:
        todo = [(i, f"clip{i}.wav") for i in range(8)]
        done = dict(run_local(_warmed_in_worker, todo, None, 2, executor))
        assert sorted(done) == list(range(8))
        for r in done.values():
            assert r["warmed"] == ([r["pid"]] if warm is _warm_mark else [])
            assert r["gc"] and r["frozen"] > 0  # collector back on, the warm-up's objects frozen
        assert executor.submit(os.getpid).result() != os.getpid()  # still running
    assert _WARMED == []  # never in this process


def test_cli_extract_with_two_workers_gives_the_same_table(corpus: Path, tmp_path: Path) -> None:
    """The pool started before the folder is scanned (warming up) gives the table of one worker."""
    from genrelab.cli import app

    tables = {}
    for w in ("1", "2"):
        out = tmp_path / w / "table.csv"
        result = CliRunner().invoke(app, ["extract", str(corpus), "-o", str(out), "--workers", w, "--quiet"])
        assert result.exit_code == 0, result.output
        tables[w] = pd.read_csv(out)
    pd.testing.assert_frame_equal(tables["2"], tables["1"])
    bad = CliRunner().invoke(app, ["extract", str(corpus), "-o", str(tmp_path / "x.csv"), "--workers", "100000"])
    assert bad.exit_code == 2 and "workers=100000" in bad.output
    missing = CliRunner().invoke(app, ["extract", str(tmp_path / "nope"), "-o", str(tmp_path / "y.csv"), "--workers", "2"])
    assert missing.exit_code == 2 and "error:" in missing.output


def test_a_table_is_written_in_chunks_with_the_bytes_of_one_write(tmp_path: Path) -> None:
    """``write_table`` formats the CSV a few hundred rows at a time (bounded memory on big folders);
    the file is byte for byte what one ``to_csv`` call writes, and the parquet copy reads back equal."""
    from genrelab.features.writing import write_table

    rng = np.random.default_rng(3)
    table = pd.DataFrame(rng.standard_normal((1000, 5)), columns=list("abcde"))
    table.insert(0, "filename", [f"blues.{i:05d}.wav" for i in range(1000)])
    write_table(table, tmp_path / "features.csv")
    table.to_csv(tmp_path / "one.csv", index=False)
    assert (tmp_path / "features.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "features.parquet"), table)
