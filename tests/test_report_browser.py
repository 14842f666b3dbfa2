"""The HTML report in a real browser (Playwright driving Debian's chromium, headless) on the
report of a real run: a passing image case, a failing image case, a failing video case."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from regress.env import in_ci

CHROMIUM = os.environ.get("REGRESS_CHROMIUM", "/usr/bin/chromium")  # Debian's package
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """Chromium through Playwright; in CI a missing browser fails (.ci/run installs it)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        (pytest.fail if in_ci() else pytest.skip)("the playwright package is not installed (pip install -e .[test])")
    if not Path(CHROMIUM).exists():
        (pytest.fail if in_ci() else pytest.skip)(f"{CHROMIUM} missing (apt-get install -y chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def keep_artifact(path: Path) -> None:
    """Copy a screenshot to $REGRESS_ARTIFACTS (CI uploads that folder)."""
    dest = os.environ.get("REGRESS_ARTIFACTS")
    if dest:
        Path(dest).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(dest) / path.name)


def test_report_in_browser_images_load_and_failure_comes_first(browser, failing_report: Path,
                                                               tmp_path: Path) -> None:
    doc = json.loads((failing_report / "results.json").read_text())
    status = {c["id"]: c["status"] for c in doc["cases"]}
    assert status == {"qwen": "passed", "qwen-b": "failed", "wan": "failed"}

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto((failing_report / "index.html").as_uri())
    page.wait_for_load_state("load")

    images = page.eval_on_selector_all("img", "els => els.map(e => [e.getAttribute('src'), e.complete, "
                                              "e.naturalWidth])")
    # golden, actual, diff + the two overlay layers per failing case; the passing one is
    # bit-identical: golden and actual (one file), no diff, no overlay
    assert len(images) == 2 * 5 + 2
    broken = [src for src, complete, width in images if not complete or width == 0]
    assert not broken, f"images that did not load: {broken}"

    sections = page.eval_on_selector_all("section.case", "els => els.map(e => [e.dataset.case, e.dataset.status])")
    assert [s for _, s in sections] == ["failed", "failed", "passed"]
    assert sections[-1][0] == "qwen"
    rows = page.eval_on_selector_all("#summary tbody tr", "els => els.map(e => [e.dataset.case, e.className])")
    assert rows[0][1] == "bad" and rows[-1] == ["qwen", "ok"]

    # the video opens on its worst frame; the scrubber moves every pane to another frame
    wan = page.locator("section.case[data-case='wan']")
    assert "frame 5 / 9" in wan.locator(".scrub .label").inner_text()  # 1-based: the 5th of 9 frames
    diff = wan.locator("figure img[alt='diff']")
    assert diff.get_attribute("src").endswith("/diff/004.png")
    wan.locator("input.frame").fill("2")
    assert diff.get_attribute("src").endswith("/diff/002.png")
    assert wan.locator("img[alt='actual']").evaluate("e => e.complete && e.naturalWidth > 0")
    assert "frame 3 / 9" in wan.locator(".scrub .label").inner_text()
    wan.locator("button.jump").click()
    assert diff.get_attribute("src").endswith("/diff/004.png")

    # the overlay slider reveals golden on the left, actual on the right
    qb = page.locator("section.case[data-case='qwen-b']")
    qb.locator("input.slider").fill("80")
    assert "80%" in qb.locator("img.over").evaluate("e => e.style.clipPath")

    # the metric table names each threshold's source; failing rows are marked
    bad_rows = qb.locator("table.metrics tr.bad td:first-child").all_inner_texts()
    assert "max_abs" in bad_rows
    assert "suite default" in qb.locator("table.metrics").inner_text()
    assert "precision fingerprint" in qb.inner_text() and "time and peak memory" in qb.inner_text()

    # the passing case says where its diff would be that nothing differs
    qwen = page.locator("section.case[data-case='qwen']")
    assert "identical to the golden: no pixel differs" in qwen.locator("figure.identical").inner_text()
    assert qwen.locator("input.slider").count() == 0

    # "failures only" hides the passing case
    page.check("#failures-only")
    assert not page.locator("section.case[data-case='qwen']").is_visible()
    page.uncheck("#failures-only")

    shot = tmp_path / "regress-report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    keep_artifact(shot)
    page.close()
    assert not errors, errors


def test_report_items_in_browser_with_screenshots(browser, failing_report: Path, tmp_path: Path) -> None:
    """Issue 17's report items on a real run's page, and screenshots of the case table, a
    failing image card and a video card (kept as CI artifacts under $REGRESS_ARTIFACTS)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto((failing_report / "index.html").as_uri())
    page.wait_for_load_state("load")

    # the table links every case to its card, and the link lands on it
    links = page.eval_on_selector_all("#summary a[href^='#']", "els => els.map(e => e.getAttribute('href'))")
    assert len(links) >= 2 * 3 and all(page.locator(href).count() == 1 for href in links)
    page.locator("#summary td.case a", has_text="wan").click()
    assert page.evaluate("location.hash") == "#" + page.locator("section.case[data-case='wan']").get_attribute("id")

    # each heat-map has a scale that names its largest difference
    qb = page.locator("section.case[data-case='qwen-b']")
    peak = qb.locator("figure .scale .peak").inner_text()
    assert peak.endswith("/255") and 0 < int(peak.split("/")[0]) <= 255
    assert qb.locator(".scale .ramp").evaluate("e => getComputedStyle(e).backgroundImage").startswith("linear-gradient")
    # the random-weight tiny pipelines say so, once at the top and on their cards
    assert "random-weight test pipeline" in page.locator("#tiny-note").inner_text()
    assert qb.locator("p.note.tiny").count() == 1

    shots = {"regress-case-table.png": page.locator("#summary"), "regress-failing-image-card.png": qb,
             "regress-video-card.png": page.locator("section.case[data-case='wan']")}
    for name, element in shots.items():
        path = tmp_path / name
        element.screenshot(path=str(path))
        assert path.stat().st_size > 2_000
        keep_artifact(path)
    page.close()


def test_merged_report_with_gaps_has_a_red_badge(browser, merged_reports: dict, tmp_path: Path) -> None:
    from regress.report.merge import merge_reports

    out = merge_reports([merged_reports["a"], merged_reports["b_qwen"]], tmp_path / "gaps",
                        expect_platforms=[merged_reports["platform_a"], merged_reports["platform_b"]])
    assert out["coverage"]["missing"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto((tmp_path / "gaps" / "index.html").as_uri())
    badge = page.locator("header .badge.gap")
    assert badge.inner_text() == f"{len(out['coverage']['missing'])} not run"
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(176, 0, 32)"  # --bad
    assert page.locator("header .counts .badge").first.inner_text().endswith("not run")  # before any "passed"
    shot = tmp_path / "regress-merged-gaps.png"
    page.locator("header").screenshot(path=str(shot))
    keep_artifact(shot)
    page.close()


def test_merged_report_shows_platforms_side_by_side(browser, merged_reports: dict, tmp_path: Path) -> None:
    out = merged_reports["complete"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto((out / "index.html").as_uri())
    headers = page.eval_on_selector_all("#summary thead th", "els => els.map(e => e.textContent)")
    assert headers[0] == "case" and len(headers) == 3  # two platforms side by side
    broken = page.eval_on_selector_all("img", "els => els.filter(e => !(e.complete && e.naturalWidth > 0))"
                                              ".map(e => e.getAttribute('src'))")
    assert not broken
    assert "every case ran on" in page.locator("#coverage").inner_text()
    shot = tmp_path / "regress-merged-report.png"
    page.screenshot(path=str(shot), full_page=True)
    keep_artifact(shot)
    page.close()


def test_audio_players_load_in_browser(browser, tmp_path: Path) -> None:
    from regress.report import write_report
    from test_report_page import audio_run

    v, media = audio_run(tmp_path)
    page_path = write_report(tmp_path, [v], suite=None, platform="cpu-avx2", revision="r",
                             media={(v.id, v.platform): media})
    page = browser.new_page()
    page.goto(page_path.as_uri())
    durations = page.eval_on_selector_all(
        "audio", "els => Promise.all(els.map(a => new Promise(ok => { a.addEventListener('loadedmetadata', "
                 "() => ok(a.duration)); a.addEventListener('error', () => ok(-1)); a.load(); })))")
    assert durations == [1.0, 1.0]  # 8000 samples at 8 kHz
    assert page.locator("svg.wave polygon").count() == 3
    page.close()
