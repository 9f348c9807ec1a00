"""The playground in a real browser: headless Chromium (Debian's chromium + chromedriver,
driven by selenium) opens GET /playground of a real gateway (uvicorn on 127.0.0.1) over the
session's tritonserver with the tiny voice, and uses it as a person would: picks from the
server's voices, types, presses Speak, hears audio before the request ends, reads the server's
error for a bad value, types an API key, works from the keyboard on a narrow screen. The
console must stay free of errors.

Set PLAYGROUND_SCREENSHOT=docs/playground.png to write the page's screenshot there (the
committed one was made so); without it the screenshot goes to pytest's tmp dir.
"""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser import chromium, console_errors
from tts_client.audio import Audio
from tts_client.client import TTSClient

pytest.importorskip("selenium")
pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from tts_gateway.app import create_app  # noqa: E402

pytestmark = [pytest.mark.triton, pytest.mark.slow]

TEXT = (
    "Hello there. This page plays each piece of audio as it streams in. The first words "
    "play before the request ends. Thank you for listening."
)
KEY = "s3cret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(app: Any) -> Iterator[str]:
    port = _free_port()
    # the browser keeps connections open: shutdown waits at most 1 s for them
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the gateway did not start within 30 s"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def open_url(triton_voice) -> Iterator[str]:
    """A gateway without an API key."""
    yield from _serve(create_app(triton_voice.grpc_url))


@pytest.fixture(scope="module")
def keyed_url(triton_voice) -> Iterator[str]:
    """A gateway that needs the API key."""
    yield from _serve(create_app(triton_voice.grpc_url, api_key=KEY))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


def _state(driver: Any) -> str:
    return driver.find_element(By.TAG_NAME, "body").get_attribute("data-state")


def _open(driver: Any, url: str, settled: tuple[str, ...] = ("idle",)) -> None:
    driver.get(f"{url}/playground")
    WebDriverWait(driver, 30).until(lambda d: _state(d) not in ("", "loading"))
    assert _state(driver) in settled, driver.find_element(By.ID, "error").text


def _speak(driver: Any, text: str | None = None, seed: str | None = None) -> dict[str, Any]:
    """Type ``text`` and ``seed`` (None: keep what is there), press Speak, wait for the end;
    the page's numbers of that run."""
    if text is not None:
        box = driver.find_element(By.ID, "text")
        box.clear()
        box.send_keys(text)
    if seed is not None:
        driver.find_element(By.ID, "seed").clear()
        driver.find_element(By.ID, "seed").send_keys(seed)
    driver.find_element(By.ID, "speak").click()
    WebDriverWait(driver, 120).until(lambda d: _state(d) in ("done", "error", "idle"))
    return driver.execute_script("return window.playground.lastRun")


def _wav_in_audio(driver: Any) -> bytes:
    """The bytes of the WAV that #audio holds (its blob: URL, read inside the page)."""
    script = """
        const done = arguments[arguments.length - 1];
        fetch(document.getElementById("audio").src)
          .then((r) => r.arrayBuffer())
          .then((b) => {
            let s = "";
            for (const x of new Uint8Array(b)) s += String.fromCharCode(x);
            done(btoa(s));
          })
          .catch((e) => done("error: " + e));
    """
    out = driver.execute_async_script(script)
    assert not out.startswith("error"), out
    return base64.b64decode(out)


def _screenshot(driver: Any, path: Path) -> None:
    """The whole page at 1280 px wide as PNG."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    metrics = {"width": 1280, "height": int(height), "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        driver.execute_script("window.scrollTo(0, 0)")
        assert driver.save_screenshot(str(path))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_voices_are_listed_and_a_sentence_plays_before_the_request_ends(
    browser, open_url, triton_voice, tmp_path
):
    _open(browser, open_url)
    with TTSClient(triton_voice.grpc_url) as tts:
        voices = [v for v in tts.voices() if v.ready]
        info = next(v for v in voices if v.name == triton_voice.voice)
        want = tts.synthesize(TEXT, speaker="spk1", language="EN", seed=5)
        t0, client_first_ms = time.perf_counter(), None
        for _ in tts.stream(TEXT, speaker="spk1", language="EN", seed=5):
            client_first_ms = client_first_ms or (time.perf_counter() - t0) * 1000
    listed = [
        o.get_attribute("value") for o in Select(browser.find_element(By.ID, "voice")).options
    ]
    assert listed == [v.name for v in voices]
    speakers = Select(browser.find_element(By.ID, "speaker"))
    assert [o.get_attribute("value") for o in speakers.options] == sorted(
        info.speakers, key=info.speakers.get
    )
    speakers.select_by_value("spk1")
    Select(browser.find_element(By.ID, "language")).select_by_value("EN")

    run = _speak(browser, TEXT, seed="5")
    assert _state(browser) == "done", browser.find_element(By.ID, "error").text
    print(
        f"first audio: page {run['firstAudioMs']:.0f} ms (of {run['totalMs']:.0f} ms), "
        f"Python client (gRPC stream) {client_first_ms:.0f} ms"
    )
    # streamed: several pieces, the first one playing while the rest were still coming
    assert run["pieces"] > 1, run
    assert run["firstAudioMs"] < run["totalMs"], run
    assert run["playingMsAtEnd"] > 0, run
    # #audio holds the whole sentence: the client's audio for the same seed (16-bit steps)
    wav = _wav_in_audio(browser)
    got = Audio.from_wav(wav)
    assert got.sample_rate == info.sample_rate
    assert len(got.samples) == len(want.samples)
    assert int(np.abs(got.to_pcm16().astype(int) - want.to_pcm16()).max()) <= 2
    link = browser.find_element(By.ID, "download")
    assert link.get_attribute("href") == browser.find_element(By.ID, "audio").get_attribute("src")
    assert link.get_attribute("download").endswith(".wav")
    for stat in ("stat-first", "stat-total", "stat-audio", "stat-rtf"):
        assert any(c.isdigit() for c in browser.find_element(By.ID, stat).text), stat
    sent = browser.execute_script("return window.playground.lastBody")
    assert sent["response_format"] == "pcm" and sent["model"] == triton_voice.voice
    assert console_errors(browser) == []

    shot = Path(os.environ.get("PLAYGROUND_SCREENSHOT") or tmp_path / "playground.png")
    _screenshot(browser, shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_the_same_seed_gives_the_same_audio(browser, open_url):
    _open(browser, open_url)
    text = "The same seed gives the same audio."
    Select(browser.find_element(By.ID, "language")).select_by_value("EN")
    first = (_speak(browser, text, seed="11"), _wav_in_audio(browser))
    again = (_speak(browser, seed="11"), _wav_in_audio(browser))
    assert first[0]["pieces"] >= 1 and again[0]["pieces"] >= 1
    assert first[1] == again[1]
    browser.find_element(By.ID, "seed").clear()  # empty: a random seed each time
    _speak(browser)
    assert _wav_in_audio(browser) != first[1]
    assert console_errors(browser) == []


def test_a_bad_value_shows_the_servers_error_naming_the_field(browser, open_url):
    _open(browser, open_url)
    box = browser.find_element(By.ID, "knob-length_scale")
    box.clear()
    box.send_keys("9")
    _speak(browser, "你好。")
    assert _state(browser) == "error"
    sent = browser.execute_script("return window.playground.lastBody")
    assert sent["length_scale"] == "9"
    r = httpx.post(f"{open_url}/v1/audio/speech", json=sent, timeout=60)
    assert r.status_code == 400
    server = r.json()["error"]
    assert server["param"] == "length_scale"
    shown = browser.find_element(By.ID, "error")
    assert shown.is_displayed() and shown.text == server["message"]
    assert "length_scale" in shown.text
    assert box.get_attribute("aria-invalid") == "true"
    assert browser.switch_to.active_element == box  # the field is where the keyboard is
    # the only console line is Chromium's note of the 400 itself, no error of the page's
    assert console_errors(browser, allow_network=True) == []


def test_the_api_key_field_sends_the_key(browser, keyed_url):
    _open(browser, keyed_url, settled=("error",))
    shown = browser.find_element(By.ID, "error")
    assert "API key" in shown.text and "X-API-Key" in shown.text
    key = browser.find_element(By.ID, "api-key")
    assert browser.switch_to.active_element == key
    key.send_keys(KEY, Keys.TAB)  # change -> the voices load with the key
    WebDriverWait(browser, 30).until(lambda d: _state(d) == "idle")
    assert Select(browser.find_element(By.ID, "voice")).options
    run = _speak(browser, "你好。", seed="1")
    assert _state(browser) == "done" and run["pieces"] >= 1
    assert console_errors(browser, allow_network=True) == []


def test_keyboard_only_on_a_narrow_screen(browser, open_url):
    metrics = {"width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": True}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        _open(browser, open_url)
        width = browser.execute_script(
            "const e = document.documentElement; return [e.scrollWidth, e.clientWidth]"
        )
        assert width[0] <= width[1], f"horizontal scrolling on a 360 px screen: {width}"
        # Tab from the top reaches every control in reading order
        browser.execute_script("document.activeElement.blur()")
        reached = []
        for _ in range(60):
            browser.switch_to.active_element.send_keys(Keys.TAB)
            reached.append(browser.switch_to.active_element.get_attribute("id"))
            if reached[-1] == "reset":
                break
        wanted = ["api-key", "voice", "speaker", "language", "profile", "seed", "text", "speak",
                  "knob-sdp_ratio", "knob-length_scale", "reset"]  # fmt: skip
        assert [i for i in reached if i in wanted] == wanted, reached
        # Ctrl+Enter in the text speaks
        text = browser.find_element(By.ID, "text")
        text.clear()
        text.send_keys("你好。")
        text.send_keys(Keys.CONTROL, Keys.ENTER)
        WebDriverWait(browser, 120).until(lambda d: _state(d) in ("done", "error"))
        assert _state(browser) == "done", browser.find_element(By.ID, "error").text
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert console_errors(browser) == []
