"""The Spark UI in a real browser: headless Chromium (Debian's), driven over the Chrome DevTools
Protocol, opens the UI proxy and the History Server of the overlay running on kubesim
(overlay_support.py). The proxy serves a running application's Jobs, Stages and Executors pages
with no failed request among all those the page makes and every link under its prefix
answering; the History Server lists the finished spark-pi of deployment/jobs. Screenshots go to
artifacts/browser/ (git-ignored).

Slow (a few minutes: two Spark applications): `make test-browser`, marker `browser`.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from deployment_support import REPO, render
from overlay_support import NS, Overlay, overlay, requires_process_runtime
from websockets.sync.client import ClientConnection, connect

from tests.conftest import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["overlay"]

pytestmark = [pytest.mark.browser, requires_process_runtime, pytest.mark.timeout(1800)]

ARTIFACTS = REPO / "artifacts" / "browser"


@dataclass
class Page:
    """One page load: every response and failure of the requests it made."""

    session: str
    responses: dict[str, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


class Chromium:
    """Headless Chromium with a DevTools websocket (CDP, flat sessions)."""

    def __init__(self, profile: Path) -> None:
        binary = shutil.which("chromium")
        assert binary, "Debian's chromium is needed (scripts/setup-system.sh installs it)"
        self.process = subprocess.Popen(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        active = profile / "DevToolsActivePort"
        wait_until("Chromium's DevTools port", active.exists, timeout=30)
        port, path = wait_until(
            "the DevTools address", lambda: active.read_text().split(), timeout=10
        )
        self.ws: ClientConnection = connect(f"ws://127.0.0.1:{port}{path}", max_size=None)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> Any:
        """Sends one command and returns its result; events that arrive meanwhile are kept."""
        msg_id = next(self.ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == msg_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply.get("result", {})
            self.events.append(reply)

    def open(self, url: str, quiet: float = 2.0, timeout: float = 60) -> Page:
        """Loads `url` in a new tab and waits until the network has been quiet for `quiet` s
        after the load event (the Spark UI fetches its tables with XHR after loading)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(session)
        for domain in ("Network", "Page", "Runtime"):
            self.send(f"{domain}.enable", session=session)
        self.events.clear()
        self.send("Page.navigate", {"url": url}, session=session)
        pending: dict[str, str] = {}
        loaded, last, deadline = False, time.monotonic(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            while self.events:
                self._note(self.events.pop(0), page, pending)
                last = time.monotonic()
            try:
                ev = json.loads(self.ws.recv(timeout=0.2))
            except TimeoutError:
                if loaded and not pending and time.monotonic() - last >= quiet:
                    return page
                continue
            if ev.get("sessionId") != session:
                continue
            if ev.get("method") == "Page.loadEventFired":
                loaded = True
            self._note(ev, page, pending)
            last = time.monotonic()
        raise AssertionError(f"{url} did not finish loading: pending {sorted(pending.values())}")

    @staticmethod
    def _note(ev: dict[str, Any], page: Page, pending: dict[str, str]) -> None:
        params = ev.get("params", {})
        match ev.get("method"):
            case "Network.requestWillBeSent":
                pending[params["requestId"]] = params["request"]["url"]
            case "Network.responseReceived":
                page.responses[params["response"]["url"]] = params["response"]["status"]
            case "Network.loadingFinished":
                pending.pop(params["requestId"], None)
            case "Network.loadingFailed":
                url = pending.pop(params["requestId"], "?")
                if not params.get("canceled"):
                    page.failures[url] = params.get("errorText", "failed")

    def evaluate(self, page: Page, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=page.session,
        )
        return result["result"].get("value")

    def screenshot(self, page: Page, name: str) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"}, session=page.session)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def close(self) -> None:
        self.ws.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    browser = Chromium(tmp_path_factory.mktemp("chromium"))
    try:
        yield browser
    finally:
        browser.close()


def _stream_job() -> dict[str, Any]:
    """deployment/jobs/spark-pi's Job, submitting the example streaming app (runs until
    killed) with one executor, so that a UI is up while the browser looks at it."""
    (job,) = [copy.deepcopy(d) for d in render("job") if d["kind"] == "Job"]
    job["metadata"]["name"] = "spark-stream-submit"
    container = job["spec"]["template"]["spec"]["containers"][0]
    args = [
        {
            "spark-pi": "spark-stream",
            "spark.executor.instances=2": "spark.executor.instances=1",
        }.get(a, a)
        for a in container["args"]
    ]
    container["args"] = [*args[:-2], "local:///opt/sparkube/apps/streaming.py", "0", "20"]
    return job


@dataclass
class Apps:
    """The overlay with spark-pi (deployment/jobs) submitted and a streaming app running."""

    overlay: Overlay
    stream_id: str
    proxy: str
    history: str


@pytest.fixture(scope="module")
def apps(overlay: Overlay) -> Apps:
    overlay.kubectl("apply", "-k", str(REPO / "deployment" / "jobs" / "spark-pi"))
    overlay.kubectl("apply", "-f", "-", input_text=yaml.safe_dump(_stream_job()))

    def stream_driver() -> str | None:
        pods = json.loads(
            overlay.kubectl("-n", NS, "get", "pods", "-l", "spark-role=driver", "-o", "json")
        )["items"]
        for pod in pods:
            if pod["metadata"]["name"].startswith("spark-stream-") and (
                pod["status"].get("phase") == "Running"
            ):
                return str(pod["metadata"]["labels"]["spark-app-selector"])
        return None

    stream_id = wait_until("the streaming app's driver", stream_driver, timeout=600, interval=2)
    proxy = f"http://{overlay.pod_ip(NS, 'spark-ui-proxy')}:8080/{NS}/{stream_id}"

    def ui_has_a_job() -> bool:
        jobs = overlay.get_json(f"{proxy}/api/v1/applications/{stream_id}/jobs")
        return bool(jobs)

    wait_until("a job in the streaming app's UI", ui_has_a_job, timeout=600, interval=2)
    history = f"http://{overlay.pod_ip(NS, 'spark-history-server')}:18080"
    return Apps(overlay=overlay, stream_id=stream_id, proxy=proxy, history=history)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        err.close()
        return err.code


@pytest.mark.parametrize("tab", ["jobs", "stages", "executors"])
def test_proxy_serves_the_running_apps_pages(apps: Apps, chromium: Chromium, tab: str) -> None:
    url = f"{apps.proxy}/{tab}/"
    page = chromium.open(url)
    chromium.screenshot(page, f"spark-ui-proxy-{tab}")
    assert page.responses.get(url) == 200, page.responses
    assert not page.failures, page.failures
    bad = {u: s for u, s in page.responses.items() if s >= 400}
    assert not bad, f"requests of {url} that failed: {bad}"
    # The page's own requests (scripts, styles, REST calls) all stay under the prefix.
    origin = urllib.parse.urlsplit(apps.proxy)
    prefix = origin.path + "/"
    for requested in page.responses:
        parts = urllib.parse.urlsplit(requested)
        if parts.netloc == origin.netloc:
            assert parts.path.startswith(prefix), f"{requested} is outside {prefix}"
    heading = {"jobs": "Spark Jobs", "stages": "Stages for All Jobs", "executors": "Executors"}
    assert chromium.evaluate(page, "document.title").endswith(f" - {heading[tab]}")
    links = chromium.evaluate(page, "Array.from(document.querySelectorAll('a[href]'), a => a.href)")
    local = sorted(
        {
            urllib.parse.urldefrag(link).url
            for link in links
            if urllib.parse.urlsplit(link).netloc == origin.netloc
        }
    )
    assert len(local) >= 5, links
    for link in local:
        assert urllib.parse.urlsplit(link).path.startswith(prefix), f"{link} leaves {prefix}"
        assert _status(link) == 200, f"{link} on {url}"


def test_history_server_lists_the_finished_app(apps: Apps, chromium: Chromium) -> None:
    apps.overlay.kubectl(
        "-n",
        NS,
        "wait",
        "--for=condition=complete",
        "job/spark-pi-submit",
        "--timeout=600s",
        timeout=660,
    )

    def finished() -> list[dict[str, Any]]:
        listed = apps.overlay.get_json(f"{apps.history}/api/v1/applications") or []
        return [a for a in listed if a["name"] == "PythonPi" and a["attempts"][0]["completed"]]

    (pi,) = wait_until("spark-pi in the history server", finished, timeout=120, interval=2)
    page = chromium.open(f"{apps.history}/")
    shown = wait_until(
        "the history table",
        lambda: chromium.evaluate(
            page, "Array.from(document.querySelectorAll('#history-summary a'), a => a.textContent)"
        ),
        timeout=30,
        interval=0.5,
    )
    chromium.screenshot(page, "spark-history-server")
    assert pi["id"] in shown
    assert not page.failures, page.failures
    bad = {u: s for u, s in page.responses.items() if s >= 400}
    assert not bad, bad
