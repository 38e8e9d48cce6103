"""report.html in a real browser: headless Chromium opens it from disk, offline, and shows everything.

Skipped, with the reason, where Chromium, chromedriver or selenium is not installed
(`.ci/run` installs the Debian packages chromium and chromium-driver).
"""
from __future__ import annotations

import importlib.util
import shutil

import pytest

from cnnbench.reports.cli import main as reports_main

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


def _screenshot(browser, path) -> bool:
    """A screenshot of the whole page; chromedriver gives its renderer 10 s for one, which a loaded 2-core
    machine (the other pytest-xdist worker building models) can exceed (CI, 2026-12-06: "Timed out receiving
    message from renderer: 10.000" after the page had rendered and passed every check): tried three times."""
    from selenium.common.exceptions import TimeoutException

    for attempt in range(3):
        try:
            return browser.save_screenshot(str(path))
        except TimeoutException:
            if attempt == 2:
                raise
    return False


def test_report_renders_in_chromium_with_every_table_and_plot_visible(browser, full_report, tmp_path):
    """Old runs (tests/data) and runs with the new harness's fields (tests/new_fields.py: four runtimes,
    world sizes, bf16/XLA variants, a paired A/B file) in one report (tests/conftest.py, full_report, the one
    tests/test_reports.py reads): every section shows."""
    out = full_report[0]
    browser.get((out / "report.html").resolve().as_uri())
    assert browser.title.startswith("cnnbench report")

    for table_id in ("comparison-table", "measurements-table", "paired-table", "modes-table", "scaling-table",
                     "skipped-table", "runs-table"):
        table = browser.find_element("id", table_id)
        browser.execute_script("arguments[0].scrollIntoView();", table)
        assert table.is_displayed(), table_id
        assert len(table.find_elements("css selector", "tbody tr")) > 0, table_id
    settings = browser.find_element("id", "equal-settings")
    assert settings.is_displayed() and "all runtimes ran under equal settings" in settings.text
    assert "not recorded in run(s)" in settings.text  # the old runs
    # the paired verdict decides resnet18 inference in every run of its machine that measured that pair
    paired = browser.find_elements("css selector", "#comparison-table span.paired")
    assert len(paired) == 5 and all(p.find_element("xpath", "..").text.startswith("tie") for p in paired)

    plots = browser.find_elements("css selector", "figure.plot img")
    ids = {p.find_element("xpath", "..").get_attribute("id") for p in plots}
    assert {"fig-modes", "fig-scaling", "fig-trend"} <= ids
    # per machine: step time, FLOPs, memory (per method), compile (+ throughput where a batch sweep exists)
    assert len(plots) >= 12
    for img in plots:  # none broken: each decoded to a real picture, on screen
        browser.execute_script("arguments[0].scrollIntoView();", img)
        loaded = browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 100 "
                                        "&& arguments[0].naturalHeight > 100;", img)
        assert loaded and img.is_displayed(), img.get_attribute("alt")
        assert img.size["width"] > 200 and img.size["height"] > 100
    diagrams = browser.find_elements("css selector", "#diagrams details")
    note = browser.find_elements("css selector", "#diagrams p.warn")
    assert diagrams or (note and "Graphviz" in note[0].text)  # drawn, or said why not

    # sorting works: click "torch ms" twice (ascending, then descending)
    headers = browser.find_elements("css selector", "#comparison-table th")
    col = next(i for i, th in enumerate(headers) if th.text.replace("\n", " ") == "torch ms") + 1
    browser.execute_script("arguments[0].scrollIntoView();", headers[col - 1])
    headers[col - 1].click()
    headers[col - 1].click()
    cells = browser.find_elements("css selector", f"#comparison-table tbody tr td:nth-child({col})")
    values = [float(td.get_attribute("textContent").replace(",", "")) for td in cells
              if td.get_attribute("textContent").strip() not in ("", "invalid")]
    assert float(cells[0].get_attribute("textContent").replace(",", "")) == max(values)

    shot = tmp_path / "report.png"
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1400, min(height + 50, 16000))
    assert _screenshot(browser, shot) and shot.stat().st_size > 50_000
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors


def test_implausible_figures_are_marked_and_explained_on_screen(browser, tmp_path, monkeypatch):
    """A run with the figures of issue #30 item 7 (tests/new_fields.py, implausible_run): the list of
    implausible figures and each row's reason are text on screen, not a tooltip; the "!" marks have an
    accessible name and lead to the list."""
    import new_fields as nf

    import cnnbench.reports.report as report_mod

    monkeypatch.setattr(report_mod, "figures", lambda results: [])  # the test above draws the charts
    out = tmp_path / "report"
    run = nf.write(nf.implausible_run(), tmp_path / "issue30.json")
    assert reports_main(["report", str(run), "--out", str(out), "--no-diagrams", "--no-history"]) == 0
    browser.get((out / "report.html").resolve().as_uri())

    section = browser.find_element("id", "implausible-figures")
    assert section.is_displayed() and section.text.startswith("Implausible figures")
    items = section.find_elements("css selector", "li")
    assert [i.text.split(": ")[1] for i in items] == ["vgg11-tf-inference-bs1-cpu", "vgg11-torch-train-bs1-cpu"]
    assert all(i.is_displayed() for i in items)
    assert "time per FLOP 3.2x the median of the 3 vgg models" in items[1].text

    rows = browser.find_elements("css selector", "#measurements-table tbody tr")
    vgg11_train = next(r for r in rows if r.text.split()[1:3] == ["vgg11", "train"])
    browser.execute_script("arguments[0].scrollIntoView();", vgg11_train)
    reason = vgg11_train.find_element("css selector", "p.doubt")
    assert reason.is_displayed() and reason.text.startswith("! implausible: time per FLOP 3.2x")
    marks = browser.find_elements("css selector", "a.doubt")
    assert len(marks) == 3 and all(m.is_displayed() and m.text == "!" for m in marks)
    assert all(m.accessible_name.startswith("implausible") for m in marks)
    marks[0].click()  # a "!" leads to the list
    assert browser.execute_script("return location.hash") == "#implausible-figures"
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
