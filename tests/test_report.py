"""The HTML report, rendered from a small real run and opened in real headless Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from annbench.run.plan import expand, parse_experiment
from annbench.run.runner import run_sweep
from annbench.views.report.builder import build_report

from .conftest import absent

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
MARKUP = "<script>document.title='injected'</script>"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from annbench.datasets.groundtruth import save_with_ground_truth
    from annbench.datasets.synthetic import make_synthetic

    root = tmp_path_factory.mktemp("report")
    dataset = save_with_ground_truth(
        make_synthetic("blobs", {"n": 3000, "n_queries": 60, "dim": 16}, seed=1),
        root / "blobs-report.hdf5",
        progress=False,
    )
    os.environ["ANNBENCH_ALGORITHMS_PATH"] = str(Path(__file__).parent / "algorithms")
    experiment = parse_experiment(
        {
            "datasets": [str(dataset)],
            "repeats": 2,
            "modes": ["batch", "single"],
            "adapters": [
                "faiss-flat",
                {"name": "hnswlib", "query": {"ef": [10, 20, 80]}},
                {"name": "faiss-ivf", "build": {"nlist": [16]}, "query": {"nprobe": [1, 4]}},
                {"name": "liar", "query": {"lie": [MARKUP]}},
            ],
        }
    )
    run_sweep(expand(experiment, root), root / "results", executor="inline")
    del os.environ["ANNBENCH_ALGORITHMS_PATH"]
    return build_report(root / "results", root / "site")


def test_markup_in_parameters_is_escaped(report):
    """(Dataset names cannot hold markup: they are checked names. Legacy results with such
    names are covered in tests/test_trust.py.)"""
    page = next(report.parent.glob("dataset-*.html")).read_text()
    assert MARKUP not in page
    assert "&lt;script&gt;document.title=" in page


def test_report_is_self_contained(report):
    for page in report.parent.glob("*.html"):
        text = page.read_text()
        assert "http://" not in text and "https://" not in text, page


@pytest.fixture(scope="module")
def browser():
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        message = "headless Chromium is missing: apt-get install chromium chromium-driver"
        absent(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,2000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


IMAGES_LOADED = (
    "return Array.from(document.images).map(i => [i.getAttribute('src'), "
    "i.complete && i.naturalWidth > 0]);"
)


def test_every_page_loads_its_images_without_console_errors(report, browser):
    from selenium.webdriver.common.by import By

    ARTIFACTS.mkdir(exist_ok=True)
    pages = sorted(report.parent.glob("*.html"))
    assert len(pages) == 3  # index, one dataset, environment
    for page in pages:
        browser.get(page.as_uri())
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, (page.name, errors)
        images = browser.execute_script(IMAGES_LOADED)
        assert all(loaded for _, loaded in images), (page.name, images)
        assert browser.title != "injected"
        browser.save_screenshot(str(ARTIFACTS / f"report-{page.stem[:40]}.png"))
    browser.get(report.as_uri())
    rows = browser.find_elements(By.CSS_SELECTOR, "table.summary tbody tr")
    assert sorted(r.find_elements(By.TAG_NAME, "td")[0].text for r in rows) == [
        "faiss-flat",
        "faiss-ivf",
        "hnswlib",
        "liar",
    ]
    dataset_page = next(p for p in pages if p.name.startswith("dataset-"))
    browser.get(dataset_page.as_uri())
    images = browser.execute_script(IMAGES_LOADED)
    assert len(images) >= 5  # pareto, build, memory, latency, per-query recall


def test_clicking_a_heading_sorts_the_points_table(report, browser):
    from selenium.webdriver.common.by import By

    browser.get(next(report.parent.glob("dataset-*.html")).as_uri())
    table = browser.find_element(By.CSS_SELECTOR, "table.points")
    headings = table.find_elements(By.TAG_NAME, "th")
    recall_column = [h.text for h in headings].index("recall")
    headings[recall_column].click()

    def column():
        return [
            float(r.find_elements(By.TAG_NAME, "td")[recall_column].text)
            for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")
        ]

    assert column() == sorted(column())
    headings[recall_column].click()
    assert column() == sorted(column(), reverse=True)
