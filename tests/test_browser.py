"""The app in a real browser: Debian's chromium, driven by Playwright, does what a person would.

It opens every tab, performs the tab's main action, checks that the result appears, and saves
a full-page screenshot of each tab to $TOYWORLD_SCREENSHOTS (default build/screenshots; the
README's pictures in docs/screenshots are these). Along the way it checks that the page asks
nothing of the network beyond the app itself and that no script on it fails.

Needs `apt install chromium` and the `playwright` package (no browser download). Without them
the test is skipped, unless TOYWORLD_REQUIRE_BROWSER=1 (.ci/run sets it) turns that into a failure.
Refresh the README's pictures with
    TOYWORLD_SCREENSHOTS=docs/screenshots python -m pytest tests/test_browser.py
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

# The app runs in this process (tests/conftest.py): one torch thread is faster for its small models on a busy machine.
pytestmark = pytest.mark.usefixtures("one_thread", "small_studies")

CHROMIUM = os.environ.get("TOYWORLD_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("TOYWORLD_SCREENSHOTS", Path(__file__).parents[1] / "build" / "screenshots"))
WAIT_MS = 120_000  # the slowest action here (fitting the uncertainty study) takes ~10 s alone


def _browser_or_skip():
    required = os.environ.get("TOYWORLD_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        if required:
            pytest.fail(f"TOYWORLD_REQUIRE_BROWSER=1 but there is no chromium at {CHROMIUM}")
        pytest.skip(f"no chromium at {CHROMIUM} (apt install chromium)")
    return sync_playwright


@pytest.fixture(scope="module")
def page(served_app):
    sync_playwright = _browser_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)  # a laptop's window
        page.set_default_timeout(WAIT_MS)
        page.offsite, page.failures = [], []
        ours = urlparse(served_app).netloc

        def request(req):
            url = urlparse(req.url)
            if url.scheme in ("http", "https", "ws", "wss") and url.netloc != ours:
                page.offsite.append(req.url)

        page.on("request", request)
        page.on("pageerror", lambda err: page.failures.append(str(err)))
        page.goto(served_app, wait_until="load")
        page.get_by_role("tab", name="World").wait_for()
        yield page
        browser.close()


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).first.click()


def _done(page, element_id: str, text: str = "✅"):
    """Wait until a status line reports `text`, and return the line."""
    from playwright.sync_api import expect

    status = page.locator(f"#{element_id}")
    expect(status).to_contain_text(text, timeout=WAIT_MS)
    return status.inner_text()


def _shows_image(page, element_id: str) -> None:
    from playwright.sync_api import expect

    image = page.locator(f"#{element_id} img").first
    expect(image).to_be_visible(timeout=WAIT_MS)
    # visible before its bytes arrive: wait until the picture has loaded and decoded
    page.wait_for_function(
        "sel => { const img = document.querySelector(sel); return !!img && img.complete && img.naturalWidth > 0; }",
        arg=f"#{element_id} img",
        timeout=WAIT_MS,
    )


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for close in page.get_by_test_id("toast-close").all():  # warnings of earlier steps
        if close.is_visible():
            close.click()
    page.wait_for_timeout(500)  # let the last paint land
    from PIL import Image

    shot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
    # 256 colours: a third of the bytes, and still sharp text (these are the README's pictures)
    shot.quantize(256, method=Image.Quantize.FASTOCTREE).save(SHOTS / f"{name}.png", optimize=True)


def _example(page, label: str) -> None:
    page.get_by_text(label, exact=True).first.click()


def test_world_tab(page):
    before = page.locator("#status").inner_text()
    page.locator("#world-random").click()
    page.wait_for_function("before => document.querySelector('#status').innerText !== before", arg=before)
    assert "✅" in _done(page, "status")
    # bad input: a friendly line, and the scene stays as it was
    editor = page.locator(".cm-content").first
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("{oops")
    page.locator("#world-apply").click()
    assert "malformed JSON" in _done(page, "status", "⚠️")
    _example(page, "CLEVR classic")
    assert "5 objects" in _done(page, "status", "5 objects")
    _shows_image(page, "world-2d")
    _shot(page, "world")


def test_datasets_tab(page):
    _tab(page, "Datasets")
    _example(page, "64 CLEVR-like scenes, Parquet")
    page.locator("#ds-generate").click()
    assert "64 scenes of clevr3d" in _done(page, "ds-status")
    _shows_image(page, "ds-gallery")
    _shot(page, "datasets")


def _set_number(page, element_id: str, value, was=None) -> None:
    """Type a value into a slider's number box (as a person would) and confirm it; first wait until the
    box shows `was` (an example's value arrives from the server after its click)."""
    from playwright.sync_api import expect

    box = page.locator(f"#{element_id} input[type=number]")
    if was is not None:
        expect(box).to_have_value(str(was))
    box.fill(str(value))
    box.press("Enter")
    expect(box).to_have_value(str(value))


def test_generate_tab(page):
    _tab(page, "Generate")
    _example(page, "a caption it never saw: 'a large red cylinder'")
    page.get_by_text("caption-conditional · exact-holdout").first.wait_for()  # the example has arrived
    _set_number(page, "gen-n", 4, was=16)  # 4 samples, not the example's 16: quicker
    page.locator("#gen-generate").click()
    assert "step 100 of 100" in _done(page, "gen-status")  # diffusion streams its steps
    _shows_image(page, "gen-grid")
    _shot(page, "generate")


def test_train_tab(page):
    from playwright.sync_api import expect

    _tab(page, "Train")
    _example(page, "a GAN in 30 seconds (GANs fail at this budget: expect noise)")  # no prior fit: quicker
    _set_number(page, "tr-minutes", 0.1, was=0.5)
    page.locator("#tr-train").click()
    expect(page.locator("#tr-sample")).to_be_disabled()  # nothing to sample until the model is finished
    assert "done" in _done(page, "tr-status")
    expect(page.locator("#tr-sample")).to_be_enabled()
    page.locator("#tr-sample").click()
    _done(page, "tr-sample-status")
    _shows_image(page, "tr-grid")
    _shot(page, "train")


def test_inference_tab(page):
    _tab(page, "Inference")
    _example(page, "a top-down scene, 4 objects")
    page.locator("#inf-read").click()
    assert "4 objects" in _done(page, "inf-status", "✅ refinement step")
    _shows_image(page, "inf-render")
    _shot(page, "inference")


def test_uncertainty_tab(page):
    _tab(page, "Uncertainty")
    page.locator("#un-fit").click()
    _done(page, "un-status")
    plot = page.locator("#uncertainty-plot .js-plotly-plot")
    plot.wait_for()
    assert page.locator("#uncertainty-plot .heatmaplayer, #uncertainty-plot .hm").count() > 0
    probe = page.locator("#un-probe")
    assert "Probe (4.50, 4.50)" in probe.inner_text()
    # a click on the generative panel moves the probe there (plotly_click -> hidden textbox -> handler)
    generative = page.locator("#uncertainty-plot .nsewdrag").nth(2)
    generative.scroll_into_view_if_needed()
    panel = generative.bounding_box()
    x, y = panel["x"] + panel["width"] * 0.25, panel["y"] + panel["height"] * 0.75
    page.mouse.move(x, y)
    page.wait_for_timeout(300)  # plotly finds the hovered cell first
    page.mouse.click(x, y)
    page.wait_for_function("() => !document.querySelector('#un-probe').innerText.includes('Probe (4.50, 4.50)')")
    assert "p(x)" in probe.inner_text()
    _shot(page, "uncertainty")


def test_compare_tab(page):
    _tab(page, "Compare")
    page.locator("#cmp-show").click()
    status = _done(page, "cmp-status", "✅ shipped evaluation")
    assert "not from the Generate tab's shipped models" in status  # 15-s models, told apart from the 10-min ones
    assert "diffusion" in page.locator("#cmp-table").inner_text()
    # the plots are drawn: bars and markers in every panel, readable decade ticks, and a note on an empty panel
    plot = page.locator(".js-plotly-plot").last
    plot.wait_for()
    assert plot.locator(".barlayer .point, .scatterlayer .point").count() > 0
    ticks = plot.locator(".xtick text, .ytick text").all_inner_texts()
    assert ticks and not any(t in ("2", "5") for t in ticks), ticks  # no minor log labels ("5 2 10 5 2")
    _shot(page, "compare")


def test_learn_tab(page):
    _tab(page, "Learn")
    page.locator("#ln-read-btn").click()
    _done(page, "ln-read", "Read back")
    page.locator("#ln-dec-btn").click()
    _done(page, "ln-dec-status")
    page.locator("#ln-tax-btn").click()
    _done(page, "ln-tax-status")
    _shows_image(page, "ln-tax")
    page.locator("#ln-table-btn").click()
    _done(page, "ln-table-status")
    assert "unstable" in page.locator("#ln-table").inner_text()
    _shot(page, "learn")


def _stops(page, start: str, stop: str, status: str, running: str) -> str:
    """Start a long job, wait until its status shows `running`, press Stop: the status must say where it stopped,
    and stay so (no late update of the stopped job overwrites it)."""
    from playwright.sync_api import expect

    page.locator(f"#{start}").click()
    expect(page.locator(f"#{status}")).to_contain_text(running, timeout=WAIT_MS)
    page.locator(f"#{stop}").click()
    expect(page.locator(f"#{status}")).to_contain_text("⏹ stopped at", timeout=WAIT_MS)
    page.wait_for_timeout(3000)
    line = page.locator(f"#{status}").inner_text()
    assert "⏹ stopped at" in line and "Error" not in line, line
    return line


def test_stop_says_where_a_job_stopped(page):
    _tab(page, "Generate")
    _example(page, f"PixelCNN, pixel by pixel{_card_suffix('pixelcnn')}")
    page.get_by_text("PixelCNN (autoregressive) · unconditional").first.wait_for()
    assert "the picture is the unfinished draw" in _stops(page, "gen-generate", "gen-stop", "gen-status", "⏳ row")
    _tab(page, "Train")
    _example(page, "a VAE in a minute")
    line = _stops(page, "tr-train", "tr-stop", "tr-status", "⏳ step")
    assert "press Train for a new one" in line
    from playwright.sync_api import expect

    expect(page.locator("#tr-sample")).to_be_disabled()  # the unfinished model is not offered
    _tab(page, "Datasets")
    _set_number_box(page, "ds-n", 5000)
    assert "no dataset was made" in _stops(page, "ds-generate", "ds-stop", "ds-status", "scenes rendered")


def _card_suffix(name: str) -> str:
    from playground.app.tabs.generate import _valid

    return _valid(name)


def _set_number_box(page, element_id: str, value) -> None:
    box = page.locator(f"#{element_id} input")
    box.fill(str(value))
    box.press("Tab")


@pytest.mark.parametrize(
    "tab, field, button, status",
    [
        ("World", "world-seed", "world-random", "status"),
        ("Datasets", "ds-n", "ds-generate", "ds-status"),
        ("Generate", "gen-seed", "gen-generate", "gen-status"),
        ("Train", "tr-seed", "tr-train", "tr-status"),
        ("Inference", "inf-seed", "inf-random", "inf-status"),
        ("Uncertainty", "un-seed", "un-fit", "un-status"),
        ("Learn", "ln-seed", "ln-read-btn", "ln-read"),
    ],
)
def test_a_bad_number_gets_one_plain_warning_naming_the_field(page, tab, field, button, status):
    """-5 in a seed (or a scene count): the tab's status line names the field and its range, once, no traceback."""
    _tab(page, tab)
    _set_number_box(page, field, -5)
    page.locator(f"#{button}").click()
    line = _done(page, status, "⚠️")
    assert ("seed: must be between 0 and" in line) or ("number of scenes: must be between 1" in line), line
    assert "Traceback" not in line and "Error" not in line
    _set_number_box(page, field, 0 if field != "ds-n" else 8)  # back to a good value for the tests after


def test_compare_tab_bad_input(page):
    _tab(page, "Compare")
    for box in page.locator("#cmp-families input[type=checkbox]").all():
        if box.is_checked():
            box.uncheck()  # none chosen
    page.locator("#cmp-live").click()
    assert "choose at least one family" in _done(page, "cmp-status", "⚠️")


def test_the_page_stayed_offline_and_error_free(page):
    assert page.offsite == [], f"requests beyond the app: {page.offsite[:5]}"
    assert page.failures == [], f"scripts failed on the page: {page.failures[:5]}"
