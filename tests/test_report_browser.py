"""report.html in a real browser: headless Chromium opens it from disk, offline, and shows everything.

Skipped, with the reason, where Chromium, chromedriver or selenium is not installed
(`.ci/run` installs the Debian packages chromium and chromium-driver).
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from cnnbench.reports.cli import main as reports_main

DATA = Path(__file__).parent / "data"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER and importlib.util.find_spec("selenium")),
    reason="needs chromium + chromedriver (apt-get install chromium chromium-driver) and selenium",
)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-extensions", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


def test_report_renders_in_chromium_with_every_table_and_plot_visible(browser, tmp_path):
    out = tmp_path / "report"
    runs = [DATA / "runs" / "cpu_smoke_2core.json", DATA / "runs" / "gpu_smoke_h200_torch_only.json",
            DATA / "runs" / "cpu_torch_sweep_skips.json", DATA / "storage"]
    assert reports_main(["report", *map(str, runs), "--out", str(out)]) == 0
    browser.get((out / "report.html").resolve().as_uri())
    assert browser.title.startswith("cnnbench report")

    for table_id in ("comparison-table", "skipped-table", "runs-table"):
        table = browser.find_element("id", table_id)
        assert table.is_displayed()
        assert len(table.find_elements("css selector", "tbody tr")) > 0
    plots = browser.find_elements("css selector", "figure.plot img")
    # per machine: step time, FLOPs, memory, compile (+ throughput where a batch sweep exists); + trend
    assert len(plots) >= 9
    for img in plots:
        browser.execute_script("arguments[0].scrollIntoView();", img)
        loaded = browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 100 "
                                        "&& arguments[0].naturalHeight > 100;", img)
        assert loaded and img.is_displayed(), img.get_attribute("alt")
        assert img.size["width"] > 200 and img.size["height"] > 100

    # sorting works: click "PyTorch ms" twice (ascending, then descending)
    header = browser.find_elements("css selector", "#comparison-table th")[6]
    header.click()
    header.click()
    first = browser.find_element("css selector", "#comparison-table tbody tr td:nth-child(7)").text
    values = [float(td.text.replace(",", "")) for td in
              browser.find_elements("css selector", "#comparison-table tbody tr td:nth-child(7)") if td.text]
    assert float(first.replace(",", "")) == max(values)

    shot = tmp_path / "report.png"
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1400, min(height + 50, 16000))
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 50_000
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
