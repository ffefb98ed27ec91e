"""`dpseg app`: the page in a real headless Chromium, and its answers from a real tiny DPSeg.

The browser test starts the real command on 127.0.0.1 at a free port (training-free VIP on the
shipped tiny-world CLIP: no fixture training), drives the page with selenium and stops the server
itself. It skips only when Chromium or its driver is absent (Debian: chromium chromium-driver).
Set DPSEG_APP_SCREENSHOT=docs/img/app.png to keep the browser's screenshot of the answered page.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

DPSEG = Path(sys.executable).with_name("dpseg")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CLASSES = ["sky", "grass", "sand", "brick wall", "red circle", "orange cross"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scene(path: Path, size: int = 256) -> Path:
    from promptbank.world.shapes import render_scene

    Image.fromarray(render_scene(3, size)[0]).save(path)
    return path


@pytest.fixture
def server(tmp_path):
    """`dpseg app --method vip --backbone tiny-world` on a free port; stopped after the test."""
    pytest.importorskip("gradio")
    port = _free_port()
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(DPSEG), "app", "--method", "vip", "--backbone", "tiny-world", "--device", "cpu",
         "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                with urllib.request.urlopen(url, timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            assert time.time() < deadline, "the page did not come up in 180 s"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("no chromium/chromedriver (Debian: apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1300,900"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_the_page_segments_a_dropped_image_in_a_real_browser(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 120)
    browser.get(server)
    upload = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#photo input[type=file]"))
    upload.send_keys(str(_scene(tmp_path / "scene.png")))
    box = browser.find_element(By.CSS_SELECTOR, "#classes textarea")
    box.send_keys(", ".join(CLASSES))
    browser.find_element(By.CSS_SELECTOR, "#run").click()
    overlay = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#overlay img"))
    wait.until(lambda d: d.execute_script("return arguments[0].naturalWidth", overlay))
    width, height = browser.execute_script(
        "return [arguments[0].naturalWidth, arguments[0].naturalHeight]", overlay
    )
    assert height == 256 and width > 256  # the photo's own size, plus the legend at its right
    rows = browser.find_elements(By.CSS_SELECTOR, "#legend li")
    assert sorted(r.get_attribute("data-class") for r in rows) == sorted(CLASSES)
    shares = [float(r.find_element(By.CSS_SELECTOR, ".share").text.rstrip("%")) for r in rows]
    assert shares == sorted(shares, reverse=True) and sum(shares) == pytest.approx(100, abs=0.5)
    assert "Segmented 256x256 into 6 classes" in browser.find_element(By.ID, "message").text
    assert browser.find_elements(By.CSS_SELECTOR, "#labels a")  # the label PNG to download
    browser.save_screenshot(str(tmp_path / "app.png"))
    if os.environ.get("DPSEG_APP_SCREENSHOT"):
        shutil.copy(tmp_path / "app.png", os.environ["DPSEG_APP_SCREENSHOT"])

    box.send_keys(Keys.CONTROL, "a")  # empty the class list (as a user does, with key events)
    box.send_keys(Keys.DELETE)  # ... an empty list is a message on the page, not a stack trace
    browser.find_element(By.CSS_SELECTOR, "#run").click()
    wait.until(lambda d: "Name at least one class" in d.find_element(By.ID, "message").text)

    broken = tmp_path / "broken.jpg"  # a bad file: the page says so in one line
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    browser.find_element(By.CSS_SELECTOR, "#photo input[type=file]").send_keys(str(broken))
    box.send_keys("sky, grass")
    browser.find_element(By.CSS_SELECTOR, "#run").click()
    wait.until(lambda d: "not a readable image" in d.find_element(By.ID, "message").text)
    assert "Traceback" not in browser.find_element(By.ID, "message").text


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """An untrained tiny DPSeg saved as a run folder, recording a 3-class tiny bank."""
    import torch

    from promptbank.build import build_bank
    from segmodel import build_model, save_model

    root = tmp_path_factory.mktemp("app")
    vocab = root / "three.txt"
    vocab.write_text("red circle\nsky\ngrass\n")
    bank = build_bank(
        vocab, root / "bank", generator="procedural", encoder="tiny", templates=2,
        images_per_template=1, resolution=64, steps=2, device="cpu", progress=False,
    )  # fmt: skip
    torch.manual_seed(0)
    save_model(build_model("tiny", image_size=64), root / "run" / "model.safetensors",
               extra={"bank": str(bank)})  # fmt: skip
    return root / "run"


def test_answers_from_a_dpseg_run_folder(run_folder, tmp_path):
    from cli.app_model import load_warm_model
    from cli.app_page import answer, uploaded_path, vocabulary_text

    model = load_warm_model("dpseg", run_folder, None, {}, "cpu")
    assert model.two_passes and model.bank_classes == ["red circle", "sky", "grass"]
    assert vocabulary_text("the bank's classes", model) == "red circle, sky, grass"
    photo = tmp_path / "sideways.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 120 x 80, shown 80 x 120
    Image.open(_scene(tmp_path / "s.png", 120)).crop((0, 0, 120, 80)).save(photo, exif=exif)
    got = answer(model, str(photo), "sky\ngrass, yellow star", "II (prompts refined from the "
                 "image)", tmp_path / "out", 2048)  # fmt: skip
    assert got.overlay is not None, got.message
    overlay = Image.open(got.overlay)
    assert overlay.height == 120 and overlay.width > 80
    assert Image.open(got.labels).size == (80, 120) and "inference II" in got.message
    assert "EXIF orientation 6 applied" in got.message
    assert got.legend.count("<li ") == 3 and 'data-class="yellow star"' in got.legend

    assert uploaded_path({"path": str(photo)}, str(tmp_path)) == str(photo.resolve())
    assert uploaded_path({"path": "/etc/passwd"}, str(tmp_path)) is None  # uploads only
    assert uploaded_path(None, str(tmp_path)) is None
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    for image, text, expected in [
        (None, "sky", "Drop an image"),
        (str(photo), " , ", "Name at least one class"),
        (str(photo), "sky, sky", "is given twice"),
        (str(broken), "sky", "Could not segment this image:** not a readable image"),
    ]:
        got = answer(model, image, text, "I (one pass)", tmp_path / "out", 2048)
        assert got.overlay is None and expected in got.message, got.message
        assert "Traceback" not in got.message


def test_usage_errors_are_one_line(tmp_path):
    proc = subprocess.run([str(DPSEG), "app"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "dpseg: error: --checkpoint is missing: pass a run folder from `dpseg train` "
        "(or use --method vip)"
    )
    proc = subprocess.run([str(DPSEG), "app", "--method", "vip", "--port", "0"],
                          capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "--port 0: expected 1 to 65535" in proc.stderr
