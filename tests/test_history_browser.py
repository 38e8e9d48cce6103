"""The report's history view (``cnnbench report --store``) in a real browser: the results store's series per
case, the detected step marked with its commit range. Headless Chromium opens report.html from disk.

Skipped, with the reason, where Chromium, chromedriver or selenium is not installed (as tests/test_report_browser.py).
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

pytest.importorskip("ruptures", reason="the history view's steps need ruptures (pip install -e '.[history]')")

from cnnbench.cli import main  # noqa: E402
from test_history_changes import STEP_AT, VM_RUN, sha, synthetic_runs  # noqa: E402  (tests/ is on the path)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
CASE = "lenet5-torch-inference-bs2-cpu"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A store of 40 synthetic runs of the VM (LeNet-5 inference 15% slower from commit 25), and the report
    of the newest run with the store's history view."""
    tmp = tmp_path_factory.mktemp("history-report")
    runs = synthetic_runs(tmp / "runs", 3, case=CASE)
    db = tmp / "h.sqlite"
    assert main(["history", "add", str(tmp / "runs"), "--store", str(db)]) == 0
    assert main(["report", str(runs[-1]), "--store", str(db), "--out", str(tmp / "out"), "--no-diagrams",
                 "--no-history"]) == 0
    return tmp / "out" / "report.html"


def test_the_report_lists_the_step_with_its_commit_range(report):
    html = report.read_text()
    assert '<section id="history">' in html and '<a href="#history">History</a>' in html
    assert html.count('class="plot history-series"') == 12  # the VM run's 12 cases, one series each
    assert (f"between\n          <code>{sha(STEP_AT - 1)[:10]}</code> (last commit before) and "
            f"<code>{sha(STEP_AT)[:10]}</code>") in html
    assert html.count('<li class="step">') == 1


def test_no_store_no_history_view(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .cnnbench-history.sqlite here
    monkeypatch.delenv("CNNBENCH_HISTORY", raising=False)
    assert main(["report", str(VM_RUN), "--out", str(tmp_path / "out"), "--no-diagrams", "--no-history"]) == 0
    assert '<section id="history">' not in (tmp_path / "out" / "report.html").read_text()


def test_a_bad_store_is_one_line(tmp_path, capsys):
    (tmp_path / "bad.sqlite").write_text("not a store")
    assert main(["report", str(VM_RUN), "--store", str(tmp_path / "bad.sqlite"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "cnnbench report: error: --store: " in err
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(not (CHROMIUM and DRIVER and importlib.util.find_spec("selenium")),
                    reason="needs chromium + chromedriver (apt-get install chromium chromium-driver) and selenium")
def test_the_history_view_renders_in_chromium(report):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-extensions", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    browser = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        browser.get(report.resolve().as_uri())
        section = browser.find_element("id", "history")
        browser.execute_script("arguments[0].scrollIntoView();", section)
        assert section.is_displayed()
        figures = section.find_elements("css selector", "figure.history-series")
        assert len(figures) == 12
        first = figures[0]  # the series with a step come first
        assert first.find_element("css selector", "figcaption strong").text.startswith(f"{CASE} @ 28 px [median_s]")
        (step,) = first.find_elements("css selector", "li.step")
        assert (f"between {sha(STEP_AT - 1)[:10]} (last commit before) and {sha(STEP_AT)[:10]} (first commit after)"
                in step.text)
        for fig in figures:
            img = fig.find_element("css selector", "img")
            browser.execute_script("arguments[0].scrollIntoView();", img)
            loaded = browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 100 "
                                            "&& arguments[0].naturalHeight > 100;", img)
            assert loaded and img.is_displayed() and img.size["width"] > 300
        assert all(not f.find_elements("css selector", "li.step") for f in figures[1:])
        nav = browser.find_element("css selector", 'nav a[href="#history"]')
        assert nav.is_displayed()
    finally:
        browser.quit()
