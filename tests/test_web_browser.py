"""``genprior serve`` end to end in a real headless browser: Playwright driving the system's Chromium (Debian's
``chromium`` package; Playwright's own browser download is never used). Loads the page, uploads a PNG, runs an
inpainting recovery, reads the result images and errors from the page, and checks that a too-large upload and a
non-image are refused with a message while the server stays up.

Skipped only when Chromium or Playwright is absent and ``GENPRIOR_REQUIRE_BROWSER`` is unset (CI sets it: there a
missing browser fails). With ``GENPRIOR_SCREENSHOT=PATH`` the page with its results is saved there (the README's
picture, ``docs/images/serve.png``)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest

MAX_UPLOAD = 100_000  # bytes: the server's cap in this test (small, so that the too-large file is quick to send)


def _browser_or_skip() -> str:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    missing = []
    if executable is None:
        missing.append("the chromium executable (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install playwright)")
    try:
        import uvicorn  # noqa: F401

        import genprior.web.app  # noqa: F401
    except ImportError as e:
        missing.append(f"the web extra ({e})")
    if missing:
        if os.environ.get("GENPRIOR_REQUIRE_BROWSER"):
            pytest.fail(f"GENPRIOR_REQUIRE_BROWSER is set but {' and '.join(missing)} is missing")
        pytest.skip(f"{' and '.join(missing)} missing")
    return executable


@pytest.fixture(scope="module")
def server():
    """The app served by uvicorn on a free loopback port, in a thread; yields its base URL."""
    executable = _browser_or_skip()
    import uvicorn

    from genprior.web.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(max_upload_bytes=MAX_UPLOAD, workers=1, queue_size=2)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    t0 = time.monotonic()
    while not srv.started:
        if time.monotonic() - t0 > 30 or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", executable
    srv.should_exit = True
    thread.join(30)
    assert not app.state.folder.exists()  # its temporary folder is gone after shutdown


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    url, executable = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True)
        try:
            pg = browser.new_page(viewport={"width": 1100, "height": 900})
            pg.set_default_timeout(60_000)
            pg.goto(url)
            pg.wait_for_selector("body[data-ready='1']")  # the options are loaded
            yield pg
        finally:
            browser.close()


def test_inpainting_in_the_browser(page, server, tmp_path):
    from playwright.sync_api import expect

    from genprior.data import load_dataset
    from genprior.web.images import png_bytes

    digit = tmp_path / "digit.png"
    digit.write_bytes(png_bytes(load_dataset("mnist-bundled", "test").images[1]))
    page.set_input_files("#file", str(digit))
    expect(page.locator("#message")).to_have_text(re.compile(r"^image: digit\.png"))
    page.select_option("#task", "inpaint")
    page.check("input[name=mask-mode][value=keep]")
    page.fill("#keep", "0.5")
    page.select_option("#model", "mnist-vae")
    for box in page.query_selector_all("input[name=method]"):
        box.uncheck()
    for name in ("csgm-fast", "hybrid", "lasso-pixel"):
        page.check(f"input[name=method][value={name}]")
    page.fill("#restarts", "8")  # csgm-fast's restarts: a quick run
    page.click("#run")
    expect(page.locator("#message")).to_have_text("done", timeout=90_000)

    def error_of(card: str) -> float:
        text = page.inner_text(f".card[data-method='{card}'] .mse")
        assert text.startswith("error/pixel ") and "PSNR" in text
        return float(page.get_attribute(f".card[data-method='{card}'] .mse", "data-value"))

    measured = error_of("measured")  # the zero-filled image: half the pixels missing
    assert 0.01 < measured < 0.2
    for name in ("csgm-fast", "hybrid"):
        assert error_of(name) < 0.5 * measured, name  # the prior fills the missing pixels
    assert error_of("lasso-pixel") >= 0  # shown, a number
    for name in ("truth", "measured", "csgm-fast", "hybrid", "lasso-pixel"):
        size = page.eval_on_selector(f".card[data-method='{name}'] img", "img => [img.complete, img.naturalWidth]")
        assert size == [True, 28], name
    assert page.get_attribute("#download", "href").endswith("/download")
    assert page.is_visible("#download")
    shot = os.environ.get("GENPRIOR_SCREENSHOT")
    if shot:
        Path(shot).parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=shot, full_page=True)


def _stroke(page, selector: str, points: list[tuple[float, float]]) -> None:
    """Drag the mouse through ``points`` (fractions of the element's width and height)."""
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()  # in the viewport's coordinates
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for p in xy[1:]:
        page.mouse.move(*p, steps=5)
    page.mouse.up()


def test_drawn_digit_and_drawn_mask(page):
    from playwright.sync_api import expect

    _stroke(page, "#draw", [(0.5, 0.2), (0.5, 0.8)])  # a "1"
    page.click("#use-drawing")
    expect(page.locator("#message")).to_have_text("image: your drawing")
    page.select_option("#task", "inpaint")
    page.check("input[name=mask-mode][value=draw]")
    _stroke(page, "#mask", [(0.1, 0.5), (0.9, 0.5)])  # a horizontal band missing
    for box in page.query_selector_all("input[name=method]"):
        box.uncheck()
    page.check("input[name=method][value=adjoint]")
    page.fill("#restarts", "")
    page.click("#run")
    expect(page.locator("#message")).to_have_text("done", timeout=60_000)
    note = page.inner_text(".card[data-method='measured']")
    kept = int(re.search(r"m = (\d+) of n = 784", note).group(1))
    assert 600 < kept < 784  # the band: a few rows of 28 pixels
    size = page.eval_on_selector(".card[data-method='adjoint'] img", "img => img.naturalWidth")
    assert size == 28


def test_bad_uploads_are_refused_on_the_page(page, server, tmp_path):
    from playwright.sync_api import expect

    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(3_000_000))  # refused before its end is read
    page.set_input_files("#file", str(big))
    expect(page.locator("#message")).to_have_text(re.compile(r"^big\.png refused: .*larger than the limit"))
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    page.set_input_files("#file", str(text))
    expect(page.locator("#message")).to_have_text(re.compile(r"^notes\.txt refused: .*not a PNG or JPEG"))
    url, _ = server
    with urllib.request.urlopen(f"{url}/api/options") as r:  # the server is still up
        assert r.status == 200
