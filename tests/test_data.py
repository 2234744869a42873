"""genrelab.data.gtzan: every layout a GTZAN copy comes in, unreadable files, and the data CLI."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import genrelab.data
from genrelab.cli import app
from genrelab.constants import GENRES
from genrelab.data import Clip, Dataset, discover, track_id_of
from genrelab.errors import DatasetError

SR = 8000


def write_clip(path: Path, *, seconds: float = 0.1, fmt: str | None = None, subtype: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    y = 0.1 * np.sin(np.arange(int(seconds * SR)) * 0.3).astype(np.float32)
    sf.write(path, y, SR, format=fmt, subtype=subtype)
    return path


def gtzan_tree(base: Path, genres: tuple[str, ...], n: int, ext: str) -> None:
    for g in genres:
        for i in range(n):
            write_clip(base / g / f"{g}.{i:05d}.{ext}")


# --- track ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,expected",
    [
        ("blues.00012.wav", "blues.00012"),
        ("blues.00012.au", "blues.00012"),
        ("blues.00012.3.wav", "blues.00012"),
        ("blues.00012", "blues.00012"),
        ("blues/blues.00012.wav", "blues.00012"),
        (Path("/x/hiphop/hiphop.00099.9.WAV"), "hiphop.00099"),
        ("My Song.mp3", "My Song"),
        ("live.2019.mp3", "live.2019"),
        ("2020.01.05.flac", "2020.01.05"),
        ("notes.txt", "notes.txt"),
    ],
)
def test_track_id_of(name: str, expected: str) -> None:
    assert track_id_of(name) == expected


# --- layouts -------------------------------------------------------------------------------------


def test_flat_genre_layout(tmp_path: Path) -> None:
    gtzan_tree(tmp_path, ("rock", "blues"), 3, "wav")
    ds = discover(tmp_path)
    assert ds.layout == "flat-genre"
    assert ds.labels == ["blues", "rock"]
    assert ds.counts() == {"blues": 3, "rock": 3}
    assert [c.track_id for c in ds.clips[:3]] == ["blues.00000", "blues.00001", "blues.00002"]
    assert ds.clips[0] == Clip(path=tmp_path / "blues" / "blues.00000.wav", label="blues", track_id="blues.00000")
    assert ds.skipped == []


def test_gtzan_2002_au_layout(tmp_path: Path) -> None:
    gtzan_tree(tmp_path / "genres", ("jazz", "metal", "pop"), 2, "au")
    (tmp_path / "README.txt").write_text("GTZAN")
    ds = discover(tmp_path)
    assert ds.layout == "gtzan-2002"
    assert ds.labels == ["jazz", "metal", "pop"]
    assert all(c.path.suffix == ".au" and c.path.parent.name == c.label for c in ds.clips)
    assert len({c.track_id for c in ds.clips}) == 6


def test_kaggle_layout_skips_the_corrupt_jazz_clip(tmp_path: Path) -> None:
    base = tmp_path / "Data" / "genres_original"
    gtzan_tree(base, ("jazz", "rock"), 2, "wav")
    good = write_clip(base / "jazz" / "jazz.00053.wav")
    (base / "jazz" / "jazz.00054.wav").write_bytes(b"\x00\x00\x00\x00" + good.read_bytes()[4:])  # no RIFF header
    (tmp_path / "Data" / "features_30_sec.csv").write_text("filename,length\n")
    (tmp_path / "Data" / "images_original" / "jazz").mkdir(parents=True)
    (tmp_path / "Data" / "images_original" / "jazz" / "jazz00000.png").write_bytes(b"\x89PNG")

    ds = discover(tmp_path)
    assert ds.layout == "kaggle"
    assert ds.labels == ["jazz", "rock"]
    assert ds.counts() == {"jazz": 3, "rock": 2}
    assert [p.name for p, _ in ds.skipped] == ["jazz.00054.wav"]
    assert "not readable as audio" in ds.skipped[0][1]
    assert str(base) not in ds.skipped[0][1]  # the reason alone; the path is beside it

    unchecked = discover(tmp_path, check=False)
    assert len(unchecked.clips) == 6 and unchecked.skipped == []
    assert discover(tmp_path / "Data").layout == "kaggle"  # pointing at Data/ works too


def test_folder_per_label_with_nested_folders_and_mixed_formats(tmp_path: Path) -> None:
    write_clip(tmp_path / "ambient" / "drone one.flac")
    write_clip(tmp_path / "ambient" / "2023" / "night.ogg", fmt="OGG", subtype="VORBIS")
    write_clip(tmp_path / "ambient" / "2023" / "deep" / "tide.aiff")
    write_clip(tmp_path / "techno" / "kick.wav")
    write_clip(tmp_path / "techno" / "set.1.wav")
    write_clip(tmp_path / "techno" / "set.2.wav")
    write_clip(tmp_path / "techno" / "mix.00007.0.wav")
    write_clip(tmp_path / "techno" / "mix.00007.1.wav")
    ds = discover(tmp_path)
    assert ds.layout == "folder-per-label"
    assert ds.counts() == {"ambient": 3, "techno": 5}
    by_name = {c.path.name: c for c in ds.clips}
    assert by_name["tide.aiff"].label == "ambient"  # nested files belong to the top-level label
    assert by_name["drone one.flac"].track_id == "drone one"
    assert (by_name["set.1.wav"].track_id, by_name["set.2.wav"].track_id) == ("set.1", "set.2")  # file stems
    assert by_name["mix.00007.0.wav"].track_id == by_name["mix.00007.1.wav"].track_id == "mix.00007"  # segments


def test_folder_per_label_same_names_in_different_folders_stay_distinct(tmp_path: Path) -> None:
    write_clip(tmp_path / "rock" / "live" / "01.wav")
    write_clip(tmp_path / "rock" / "studio" / "01.wav")
    write_clip(tmp_path / "pop" / "01.wav")
    write_clip(tmp_path / "pop" / "02.wav")
    ds = discover(tmp_path)
    ids = sorted(c.track_id for c in ds.clips)
    assert ids == ["02", "pop/01", "rock/live/01", "rock/studio/01"]


def test_gtzan_names_not_matching_their_folder_mean_folder_per_label(tmp_path: Path) -> None:
    gtzan_tree(tmp_path, ("blues",), 2, "wav")
    write_clip(tmp_path / "blues" / "field recording.wav")
    assert discover(tmp_path).layout == "folder-per-label"


def test_hidden_and_non_audio_files_are_ignored(tmp_path: Path) -> None:
    gtzan_tree(tmp_path, ("pop",), 2, "wav")
    (tmp_path / "pop" / ".DS_Store").write_bytes(b"\x00\x01")
    (tmp_path / "pop" / "._pop.00000.wav").write_bytes(b"\x00\x05\x16\x07")  # macOS AppleDouble
    (tmp_path / "pop" / "cover.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "pop" / "pop.00000.wav.txt").write_text("note")
    (tmp_path / ".cache" / "x").mkdir(parents=True)
    write_clip(tmp_path / ".cache" / "x" / "x.00000.wav")
    ds = discover(tmp_path)
    assert ds.layout == "flat-genre"
    assert [c.path.name for c in ds.clips] == ["pop.00000.wav", "pop.00001.wav"]
    assert ds.skipped == []


def test_unreadable_files_are_listed_with_reasons_and_the_rest_goes_on(tmp_path: Path) -> None:
    gtzan_tree(tmp_path, ("disco",), 3, "wav")
    (tmp_path / "disco" / "disco.00003.wav").write_text("not audio at all")
    (tmp_path / "disco" / "disco.00004.wav").touch()
    full = write_clip(tmp_path / "disco" / "disco.00005.wav", seconds=0.5)
    full.write_bytes(full.read_bytes()[:3000])  # cut mid-data
    ds = discover(tmp_path)
    assert [c.track_id for c in ds.clips] == ["disco.00000", "disco.00001", "disco.00002"]
    reasons = {p.name: r for p, r in ds.skipped}
    assert set(reasons) == {"disco.00003.wav", "disco.00004.wav", "disco.00005.wav"}
    assert "not readable as audio" in reasons["disco.00003.wav"]
    assert reasons["disco.00004.wav"] == "empty file"
    assert reasons["disco.00005.wav"].startswith("truncated")


def test_real_gtzan_folder(gtzan_dir: Path) -> None:
    ds = discover(gtzan_dir)
    assert ds.layout == "gtzan-2002"
    assert ds.labels == sorted(GENRES)
    assert [c.track_id for c in ds.clips] == [f"{g}.00000" for g in sorted(GENRES)]
    assert ds.skipped == []


# --- errors ------------------------------------------------------------------------------------


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        discover(tmp_path / "nope")


def test_file_as_root(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a.wav")
    with pytest.raises(DatasetError, match="is a file"):
        discover(clip)


def test_no_audio(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no audio files"):
        discover(tmp_path)
    (tmp_path / "rock").mkdir()
    (tmp_path / "rock" / "readme.md").write_text("x")
    with pytest.raises(DatasetError, match="no audio files"):
        discover(tmp_path)


def test_audio_without_label_folders(tmp_path: Path) -> None:
    write_clip(tmp_path / "a.wav")
    with pytest.raises(DatasetError, match="one subfolder per label"):
        discover(tmp_path)


def test_dataset_is_a_plain_value(tmp_path: Path) -> None:
    gtzan_tree(tmp_path, ("a", "b"), 1, "wav")
    ds = discover(tmp_path)
    assert isinstance(ds, Dataset) and len(ds) == 2 and ds.root == tmp_path


# --- CLI -----------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_scan_prints_layout_counts_and_skipped(tmp_path: Path) -> None:
    base = tmp_path / "genres"
    gtzan_tree(base, ("blues", "rock"), 2, "au")
    (base / "rock" / "rock.00002.au").write_text("oops")
    result = runner.invoke(app, ["scan", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "gtzan-2002" in result.output
    assert "rock.00002.au" in result.output and "not readable as audio" in result.output
    assert re.search(r"blues\W+2\W+2\W", result.output)  # label, clips, tracks
    assert re.search(r"rock\W+2\W+2\W", result.output)


def test_cli_scan_lists_links_leading_outside_the_root(tmp_path: Path) -> None:
    import os

    root, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    gtzan_tree(root, ("blues",), 2, "wav")
    gtzan_tree(elsewhere, ("jazz",), 2, "wav")
    os.symlink(elsewhere / "jazz", root / "jazz")
    for check in ("--check", "--no-check"):
        result = runner.invoke(app, ["scan", str(root), check])
        assert result.exit_code == 0, result.output
        assert "jazz" not in result.output.split("skipped")[0]  # no jazz row in the table
        assert f"symbolic link to {(elsewhere / 'jazz').resolve()} outside {root.resolve()}" in result.output


def test_cli_scan_missing_folder_is_one_sentence(tmp_path: Path) -> None:
    result = runner.invoke(app, ["scan", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "error:" in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["--duration", "-1"], "--duration -1 must be a positive"),
        (["--clips-per-genre", "0"], "--clips-per-genre 0"),
        (["--sr", "10"], "--sr 10"),
        (["--genres", "blues,polka"], "polka"),
    ],
)
def test_cli_synth_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["synth", str(tmp_path / "out"), *args])
    assert result.exit_code == 2
    assert "error:" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_cli_synth_writes_a_corpus(tmp_path: Path) -> None:
    try:
        genrelab.data.synthesise_corpus  # noqa: B018
    except ImportError:
        pytest.skip("genrelab.data.synth is not written yet")
    out = tmp_path / "corpus"
    args = ["synth", str(out), "--clips-per-genre", "1", "--duration", "1", "--genres", "blues,metal", "--seed", "3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    ds = discover(out)
    assert ds.layout == "flat-genre" and ds.labels == ["blues", "metal"] and not ds.skipped
    assert [c.track_id for c in ds.clips] == ["blues.00000", "metal.00000"]
