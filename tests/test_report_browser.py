"""Open the report in headless Debian Chromium from disk: images decode, audio loads, no errors."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from genrelab.report import render_report

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("GENRELAB_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GENRELAB_CHROMEDRIVER", "/usr/bin/chromedriver")


def _driver(user_data: Path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"chromium not found at {CHROMIUM} (make test installs Debian's chromium as root)")
    if not (Path(CHROMEDRIVER).is_file() and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip(f"chromedriver not found at {CHROMEDRIVER} (Debian package chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--autoplay-policy=no-user-gesture-required",
                "--window-size=1280,2000", f"--user-data-dir={user_data}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def _wait(driver, script: str, *, timeout: float = 60.0):
    """Poll ``script`` until it returns a truthy value (or the timeout, then return the last)."""
    end = time.monotonic() + timeout
    value = driver.execute_script(script)
    while not value and time.monotonic() < end:
        time.sleep(0.2)
        value = driver.execute_script(script)
    return value


def check_in_browser(report: Path, tmp_path: Path, *, n_audio: int | None = None, n_img: int | None = None) -> Path:
    """Open ``report`` from disk; assert images decode, players have durations, no SEVERE log."""
    user_data = Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path))
    driver = _driver(user_data)
    try:
        driver.get(report.resolve().as_uri())
        assert _wait(driver, "return document.readyState === 'complete';")
        count = driver.execute_script("return document.querySelectorAll('audio').length;")
        if n_audio is not None:
            assert count == n_audio
        # readyState >= 1 (HAVE_METADATA) or an error, for every player
        assert _wait(driver, "return [...document.querySelectorAll('audio')]"
                             ".every(a => a.readyState >= 1 || a.error !== null);")
        audio = driver.execute_script(
            "return [...document.querySelectorAll('audio')].map(a => "
            "({d: a.duration, e: a.error ? a.error.code : null}));")
        bad = [a for a in audio if a["e"] is not None or a["d"] is None or not (0 < a["d"] < 1e6)]
        assert not bad, f"audio elements without a finite duration > 0: {bad}"
        imgs = driver.execute_script(
            "return [...document.querySelectorAll('img')].map(i => "
            "({ok: i.complete && i.naturalWidth > 0, alt: i.alt}));")
        if n_img is not None:
            assert len(imgs) == n_img
        assert all(i["ok"] for i in imgs), [i["alt"] for i in imgs if not i["ok"]]
        severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        assert not severe, severe
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 0
        return shot
    finally:
        driver.quit()


def _keep(shot: Path) -> None:
    target = os.environ.get("GENRELAB_SCREENSHOT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


@pytest.mark.parametrize("audio_format", ["ogg", "flac"])
def test_report_in_headless_chromium(tmp_path: Path, audio_format: str) -> None:
    from test_report import make_fake_run

    run = make_fake_run(tmp_path)
    report = render_report(run, players_per_genre=1, audio_format=audio_format)
    shot = check_in_browser(report, tmp_path, n_audio=8, n_img=20)
    if audio_format == "ogg" and not os.environ.get("GENRELAB_REPORT"):
        _keep(shot)


def test_real_report_in_headless_chromium(tmp_path: Path) -> None:
    """With GENRELAB_REPORT=runs/demo/report.html: the same checks on a real run's report
    (its screenshot is the one GENRELAB_SCREENSHOT keeps)."""
    given = os.environ.get("GENRELAB_REPORT")
    if not given:
        pytest.skip("set GENRELAB_REPORT to a report.html to check a real run's report")
    if not Path(given).is_file():
        pytest.fail(f"GENRELAB_REPORT={given} is not a file")
    _keep(check_in_browser(Path(given), tmp_path))
