"""The shifters' page in a real headless Chromium against a live ``vmsam serve``, driven over
the DevTools protocol: the sites, spaces and status words are shown; clicking a space shows
its results and A/R; a summary that is markup stays text and creates no element."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websocket

from tests.support.api import HOSTILE, HOSTILE_DETAILS, Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Browser:
    """Just enough of the DevTools protocol: evaluate JavaScript, click, take a screenshot."""

    def __init__(self, profile: Path) -> None:
        self.process = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                f"--user-data-dir={profile}",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1400,1000",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.ids = itertools.count(1)
        try:
            port = self._port(profile / "DevToolsActivePort")
            pages = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
            page = next(target for target in pages if target["type"] == "page")
            self.socket = websocket.create_connection(
                page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True
            )
        except BaseException:
            self.close()
            raise

    def _port(self, path: Path) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if path.exists() and path.read_text().strip():
                return int(path.read_text().split()[0])
            assert self.process.poll() is None, "chromium exited"
            time.sleep(0.1)
        raise AssertionError("chromium did not open its DevTools port")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:  # events arrive in between; skip them
            message = json.loads(self.socket.recv())
            if message.get("id") == number:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        answer = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in answer, answer
        return answer["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            time.sleep(0.1)

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        box = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                type=kind,
                x=box[0],
                y=box[1],
                button="left",
                clickCount=1,
            )

    def screenshot(self, path: Path) -> None:
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        if hasattr(self, "socket"):
            self.socket.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    opened = Browser(tmp_path / "profile")
    try:
        yield opened
    finally:
        opened.close()


def texts(browser: Browser, selector: str) -> list[str]:
    found: list[str] = browser.evaluate(
        f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.textContent)"
    )
    return found


def test_the_page_shows_sites_and_a_hostile_summary_as_text(
    browser, sqlite_server: Server, tmp_path: Path
):
    browser.call("Page.enable")
    browser.call("Page.navigate", url=f"{sqlite_server.url}/")
    browser.wait_for("document.querySelectorAll('tr.space').length === 6")

    headers = texts(browser, "tr.site th")
    sites = [name.split("\u26a0")[0].strip() for name in headers]
    assert sites == ["SITE-A", "SITE-AR", "SITE-B", "SITE-DT"]
    assert headers[2].endswith("a space is at risk")  # SITE-B: silent since yesterday
    rows = browser.evaluate(
        "[...document.querySelectorAll('tr.space')].map(r => [...r.cells].map(c => c.textContent))"
    )
    by_space = {(row[0], row[2]): row for row in rows}
    hostile = by_space["vac02.a.example", "lhcb"]
    assert hostile[1] == "uk.ac.gridpp.vac"
    assert hostile[3] == "CRITICAL"
    assert hostile[5] == "fresh"
    assert by_space["vac01.a.example", "lhcb"][3] == "OK"
    assert "at risk" in by_space["vcycle.b.example", "lhcb"][5]
    colour = browser.evaluate(
        "getComputedStyle(document.querySelector('tr.space span.status.CRITICAL')).backgroundColor"
    )
    assert colour == "rgb(198, 40, 40)"

    browser.click("tr.space[data-key*='vac02.a.example']")
    browser.wait_for(
        "document.querySelectorAll('#results article').length === 4"
        " && document.querySelectorAll('#ar tbody tr').length === 30"
    )
    assert browser.evaluate("location.hash").startswith("#site=SITE-A&endpoint=vac02.a.example")
    assert browser.evaluate("document.getElementById('detail-title').textContent") == (
        "vac02.a.example"
    )
    summaries = texts(browser, "#results .summary")
    assert HOSTILE in summaries  # literally, as text
    # vac02's results carried no signature: each says so
    assert texts(browser, "#results article .head .unsigned") == ["unsigned"] * 4
    assert HOSTILE_DETAILS in texts(browser, "#results pre")
    # no element was made of it: no image, no script ran
    assert browser.evaluate("document.querySelectorAll('img').length") == 0
    assert browser.evaluate("document.querySelectorAll('#results script, #results b').length") == 0
    assert browser.evaluate("window.pwned === undefined")
    # today's A/R row is first, newest on top, with a percentage or n/a
    first_day = texts(browser, "#ar tbody tr:first-child td")
    assert first_day[1].endswith("%") or first_day[1] == "n/a"
    screenshot = tmp_path / "page.png"
    browser.screenshot(screenshot)
    print(f"screenshot: {screenshot}")
    assert screenshot.stat().st_size > 10_000


def test_a_space_opens_from_its_link(browser, sqlite_server: Server):
    browser.call(
        "Page.navigate",
        url=f"{sqlite_server.url}/#site=SITE-AR&endpoint=ar.example"
        "&service_type=uk.ac.gridpp.vac&vo=lhcb",
    )
    browser.wait_for("document.querySelectorAll('#results article').length === 8")
    assert browser.evaluate("document.querySelector('tr.space.selected td').textContent") == (
        "ar.example"
    )
    statuses = texts(browser, "#results .status")
    assert statuses.count("CRITICAL") == 4
    assert statuses.count("OK") == 4
    assert texts(browser, "#results .unsigned") == []  # not checked: no flag
