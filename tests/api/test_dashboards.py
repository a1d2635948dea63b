"""The dashboards in a real browser: headless Chromium (Debian's package, driven by
Selenium) opens the pages of finished jobs served by a real uvicorn process, finds the plots
drawn and no console errors. Screenshots go to results/screenshots with
COEXPLORE_KEEP_SCREENSHOTS=1."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from coexplore.api.bench_api import free_port
from coexplore.api.store import JobStore
from coexplore.runs import save_run
from coexplore.search import Constraints, CoSearchSpec, HardwareSweepSpec, run

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.usefixtures("small_cost_nets")


def _finished(store: JobStore, result, folder: Path) -> str:  # noqa: ANN001
    """A succeeded job in the store for a run made here (the server has no workers)."""
    job, _ = store.submit(result.spec.to_dict())
    store.claim("test")
    store.finish(job.id, "test", "succeeded", run_folder=str(folder), metrics=result.metrics)
    return job.id


@pytest.fixture
def server(tmp_path: Path):  # noqa: ANN201
    if not (CHROMIUM and DRIVER):
        msg = ("Chromium and chromedriver are needed (apt-get install chromium "
               "chromium-driver; .ci/run installs them)")  # fmt: skip
        if os.environ.get("COEXPLORE_REQUIRE_BROWSER"):
            pytest.fail(msg)
        pytest.skip(msg)
    db = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = JobStore(db)
    runs = tmp_path / "runs"
    co = run(CoSearchSpec(space="tiny", steps=24, warmup_steps=8, finetune_steps=4, top_k=2,
                          batch_size=16, constraints=Constraints(fps_min=100), quant_images=16,
                          quant_synthetic_steps=3, quant_iters=3))  # fmt: skip
    sweep = run(HardwareSweepSpec(accel_space="tiny", constraints=Constraints(fps_min=30)))
    ids = {"co-search": _finished(store, co, save_run(co, runs)),
           "hardware-sweep": _finished(store, sweep, save_run(sweep, runs))}  # fmt: skip
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "coexplore.api.cli", "serve", "--port", str(port), "--db", db,
         "--runs", str(runs), "--workers", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            httpx.get(f"{url}/health")
            break
        except httpx.TransportError:
            time.sleep(0.3)
    yield url, ids
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=20)



def _browser():  # noqa: ANN202
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000",
                "--disable-dev-shm-usage"):  # fmt: skip
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def _ready(driver, timeout: float = 60) -> None:  # noqa: ANN001
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return document.body.dataset.ready === '1'")
    )


def _keep(driver, name: str, tmp: Path) -> None:  # noqa: ANN001
    """Screenshot of the page; and no console error on it (the log is read, so emptied)."""
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], f"{name}: {errors}"
    path = tmp / f"{name}.png"
    driver.save_screenshot(str(path))
    if os.environ.get("COEXPLORE_KEEP_SCREENSHOTS"):
        out = ROOT / "results" / "screenshots"
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, out / path.name)


def test_dashboards_draw_their_plots_without_console_errors(server, tmp_path: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, ids = server
    driver = _browser()
    try:
        driver.get(f"{url}/ui/jobs")
        rows = (By.CSS_SELECTOR, "#jobs tr")
        WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(*rows)) == 3)
        assert "succeeded" in driver.find_element(By.ID, "jobs").text
        _keep(driver, "jobs", tmp_path)

        driver.get(f"{url}/ui/jobs/{ids['co-search']}")
        _ready(driver)
        plots = {e.get_attribute("id") for e in
                 driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")}  # fmt: skip
        assert {"pareto", "bits", "traj"} <= plots
        # the trajectory has a line per bound and the bound drawn
        assert driver.execute_script("return document.getElementById('traj').data.length") >= 1
        shapes = driver.execute_script("return document.getElementById('traj').layout.shapes")
        assert shapes and shapes[0]["y0"] == 100
        assert "Winners" in driver.page_source and "fps" in driver.page_source
        assert "Zero-shot quantization of the winners" in driver.page_source
        assert "winner1_quantized.pt" in driver.page_source
        _keep(driver, "job-cosearch", tmp_path)

        driver.get(f"{url}/ui/jobs/{ids['hardware-sweep']}")
        _ready(driver)
        n = driver.execute_script("return document.getElementById('pareto').data[0].x.length")
        assert n >= 1
        _keep(driver, "job-sweep", tmp_path)

        driver.get(f"{url}/ui/compare?ids={ids['co-search']},{ids['hardware-sweep']}")
        _ready(driver)
        assert driver.find_elements(By.CSS_SELECTOR, "#scatter.js-plotly-plot")
        _keep(driver, "compare", tmp_path)
    finally:
        driver.quit()
