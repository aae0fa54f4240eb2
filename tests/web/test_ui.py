"""The dashboard as a person uses it: a real Uvicorn server on 127.0.0.1 (``liqcascade serve``) and
a real headless Chromium (Debian's /usr/bin/chromium through Playwright).  Each page is opened,
a run is clicked through, a small stress test is launched and watched to its end; a screenshot of
each page goes to tests/artifacts/ (ignored by git) and the map's to docs/dashboard.png."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import SHARED

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def server(store_dir, tmp_path_factory):
    """``liqcascade serve`` in a child process over a copy of the store, with data files and a
    monitor's output in it; yields the base URL."""
    out = tmp_path_factory.mktemp("served") / "store"
    shutil.copytree(store_dir, out)
    if SHARED.is_dir():
        (out / "data").mkdir()
        shutil.copy(SHARED / "binance_2026_harthor" / "binance_usdm_BTCUSDT_5m_2026-01-01_2026-02-19.csv", out / "data")
        shutil.copy(
            SHARED / "binance_oi_2026_hlreaper" / "binance_usdm_BTCUSDT_oi_5m_2026-01-01_2026-02-28.csv", out / "data"
        )
        from liqcascade.monitor import AlertSink, replay_from_files, run_monitor

        feed, mon = replay_from_files(
            SHARED / "binance_2026_harthor" / "binance_usdm_BTCUSDT_5m_2026-01-01_2026-02-19.csv",
            SHARED / "binance_oi_2026_hlreaper" / "binance_usdm_BTCUSDT_oi_5m_2026-01-01_2026-02-28.csv",
            SHARED / "binance_bookdepth_2026-01-31" / "BTCUSDT-bookDepth-2026-01-31.zip",
            start="2026-01-31T14:00:00Z",
            end="2026-01-31T17:00:00Z",
        )
        run_monitor(feed, mon, AlertSink(out, echo=None))
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "liqcascade.cli", "serve", "--out", str(out), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            _get(base + "/api/health")
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()) from None
            time.sleep(0.1)
    yield base
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def page():
    if not CHROMIUM.is_file():
        pytest.skip("no /usr/bin/chromium (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed")
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        except Exception as exc:  # a browser that cannot start here: skip with its reason
            pytest.skip(f"chromium does not start: {str(exc).splitlines()[0]}")
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.errors = errors
        yield pg
        browser.close()


def _shot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    p = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(p), full_page=True)
    return p


def test_runs_page_and_a_run(server, page):
    page.goto(server + "/#runs")
    page.wait_for_selector("body[data-ready=runs]")
    rows = page.locator("#runs-table tbody tr")
    assert rows.count() == len(_get(server + "/api/runs"))
    _shot(page, "runs")
    rows.first.click()
    page.wait_for_selector("body[data-ready=run]", timeout=60_000)
    assert page.locator("#run-path .main-svg").count() > 0  # Plotly drew the path
    assert page.locator("#run-liqs .main-svg").count() > 0
    assert page.locator("#run-compare tbody tr").count() >= 1
    assert page.evaluate("document.querySelector('#run-map').naturalWidth") > 0  # the map PNG loaded
    _shot(page, "run")
    assert not page.errors


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent (a fresh clone)")
def test_map_page(server, page):
    page.goto(server + "/#map")
    page.wait_for_selector("body[data-ready=map-form]")
    page.select_option("#map-form select[name=bars]", "binance_usdm_BTCUSDT_5m_2026-01-01_2026-02-19.csv")
    page.select_option("#map-form select[name=open_interest]", "binance_usdm_BTCUSDT_oi_5m_2026-01-01_2026-02-28.csv")
    page.fill("#map-form input[name=start]", "2026-01-20")
    page.fill("#map-form input[name=at]", "2026-02-05T20:00:00Z")
    page.click("#map-form button")
    page.wait_for_selector("body[data-ready=map]", timeout=60_000)
    assert page.locator("#map-error").is_hidden()
    text = page.inner_text("#map-model")
    assert "estimated" in text and "2026-02-05T20:00:00Z" in text and "open interest" in text
    assert page.locator("#map-levels .main-svg").count() > 0 and page.locator("#map-heat .main-svg").count() > 0
    _shot(page, "map")
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "dashboard.png"), full_page=False)
    # a bad range is refused with the server's one-line reason
    page.fill("#map-form input[name=bin]", "1")
    page.fill("#map-form input[name=lo]", "60000")
    page.fill("#map-form input[name=hi]", "100000")
    page.click("#map-form button")
    page.wait_for_selector("#map-error:not([hidden])")
    assert "levels" in page.inner_text("#map-error")
    assert not page.errors


def test_calculator_page(server, page):
    page.goto(server + "/#calculator")
    page.click("#calc-form button")
    page.wait_for_selector("body[data-ready=calculator]")
    venues = page.locator("#calc-table tbody tr[data-venue]")
    assert venues.count() >= 3
    got = {r.get_attribute("data-venue"): r.locator("td.liq").inner_text() for r in venues.all()}
    want = _post(
        server + "/api/liqprice", {"side": "long", "entry": 70000, "margin": 1000, "leverage": 20, "mode": "isolated"}
    )["venues"]
    for v, shown in got.items():
        assert float(shown.replace(",", "")) == pytest.approx(want[v]["liquidation_price"], abs=0.01)
    page.fill("#calc-form input[name=entry]", "-5")
    page.click("#calc-form button")
    page.wait_for_selector("#calc-error:not([hidden])")
    assert "entry" in page.inner_text("#calc-error")
    page.click("#account-form button")
    page.wait_for_selector("#account-table tbody tr")
    assert page.locator("#account-table tbody tr").count() == 2
    _shot(page, "calculator")


def _post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_stress_page_runs_a_sweep_to_its_curve(server, page):
    page.goto(server + "/#stress")
    page.fill("#stress-form input[name=shocks_usd]", "2e8,5e9")
    page.fill("#stress-form input[name=paths]", "1")
    page.fill("#stress-form input[name=positions]", "1000")
    page.fill("#stress-form input[name=steps]", "30")
    page.click("#stress-form button")
    page.wait_for_selector("body[data-job=done], body[data-job=failed]", timeout=300_000)
    assert page.get_attribute("body", "data-job") == "done", page.inner_text("#job-result")
    page.wait_for_selector("body[data-ready=curve]")
    assert page.locator("#stress-curve .main-svg").count() > 0
    assert "critical shock" in page.inner_text("#job-result")
    assert page.locator("#jobs-table tbody tr").count() >= 1
    _shot(page, "stress")
    assert not page.errors


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent (a fresh clone)")
def test_monitor_page(server, page):
    page.goto(server + "/#monitor")
    page.wait_for_selector("body[data-ready=monitor]")
    assert page.locator("#monitor-state tbody tr").count() == 1
    assert "BTC/USDT:USDT" in page.inner_text("#monitor-state")
    alerts = _get(server + "/api/monitor")["alerts"]
    assert alerts and page.locator("#monitor-alerts tbody tr").count() == len(alerts)
    assert "FIRED" in page.inner_text("#monitor-alerts")
    _shot(page, "monitor")
