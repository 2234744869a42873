"""Start-up: commands that do not need torch, librosa or numba do not import them (#15)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = ("torch", "librosa", "numba", "scipy", "sklearn", "pandas", "matplotlib", "dask", "distributed")

PROBE = """
import json, sys
from typer.testing import CliRunner
from genrelab.cli import app
result = CliRunner().invoke(app, json.loads(sys.argv[1]))
print(json.dumps({"code": result.exit_code, "loaded": [m for m in json.loads(sys.argv[2]) if m in sys.modules]}))
"""


def _loaded_after(args: list[str]) -> dict:
    """Run ``genrelab ARGS`` through CliRunner in a fresh interpreter: its exit code and the heavy modules loaded."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["extract", "--help"], ["train", "--help"]])
def test_help_and_version_import_nothing_heavy(args: list[str]) -> None:
    res = _loaded_after(args)
    assert res == {"code": 0, "loaded": []}


def test_scan_imports_nothing_heavy(tiny_corpus: Path) -> None:
    res = _loaded_after(["scan", str(tiny_corpus)])
    assert res == {"code": 0, "loaded": []}


FEATURES_PROBE = """
import json, sys
import genrelab.features, genrelab.features.table, genrelab.features.workers, genrelab.warmup
print(json.dumps([m for m in json.loads(sys.argv[1]) if m in sys.modules]))
"""


def test_the_features_package_loads_without_pandas_or_the_engine() -> None:
    """The extraction workers start from it (``extract --workers N``): pandas loads only where a table
    is built, numba and scipy only with the engine."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run(
        [sys.executable, "-c", FEATURES_PROBE, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_main_freezes_the_collector_on_the_way_out(monkeypatch) -> None:
    import gc

    from genrelab.cli import main

    monkeypatch.setattr(sys, "argv", ["genrelab", "--version"])
    try:
        with pytest.raises(SystemExit) as exit_:
            main()
        assert exit_.value.code in (0, None) and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
