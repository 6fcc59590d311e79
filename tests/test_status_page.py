"""/status.html in headless Chromium (`make test-browser`): the page loads, fetches /status by itself,
and shows the backends and a live request rate; the values are read from its DOM over the DevTools
protocol (python3-websockets), and a screenshot is saved as build/status-page.png (or TANDEM_SCREENSHOT).

Skipped where Debian's chromium is not installed, unless TANDEM_EXPECT_BROWSER=1 (set by
`make test-browser`, which installs it) makes that a failure.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest

from e2e_support import REPO, request
from metrics_support import start_with_metrics, status_json

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    if os.environ.get("TANDEM_EXPECT_BROWSER") == "1":
        raise RuntimeError("TANDEM_EXPECT_BROWSER=1 but chromium is not installed (make test-browser installs it)")
    pytest.skip("Debian's chromium is not installed (make test-browser installs it)", allow_module_level=True)

if os.environ.get("TANDEM_EXPECT_BROWSER") == "1":
    import websockets.client as websockets
else:
    websockets = pytest.importorskip("websockets.client")

SCREENSHOT = os.environ.get("TANDEM_SCREENSHOT") or os.path.join(REPO, "build", "status-page.png")
WAIT = 20.0  # seconds any one wait for the page may take

# Installed before the page's own script runs: every time the page shows a new total, what it shows
# as the rate beside it, so the test needs no timing of its own.
RECORDER = """
window.__seen = [];
document.addEventListener("DOMContentLoaded", () => {
  const total = document.getElementById("requests_total"), rate = document.getElementById("rate");
  new MutationObserver(() => window.__seen.push([total.textContent, rate.textContent]))
    .observe(total, { childList: true, characterData: true, subtree: true });
});
"""

# What the page shows, in one evaluation (the page's script cannot run in between); before the page
# has loaded, an empty reading.
READ_DOM = """
(() => { try { return JSON.stringify({
  state: document.getElementById("state").className,
  total: document.getElementById("requests_total").textContent,
  in_flight: document.getElementById("in_flight").textContent,
  connections: document.getElementById("connections").textContent,
  rows: [...document.querySelectorAll("#backends tr")].map(tr =>
    Object.fromEntries([...tr.children].map(td => [td.className.split(" ")[0], td.textContent]))),
  seen: window.__seen,
}); } catch (e) { return JSON.stringify({state: "not loaded: " + e, rows: [], total: "", seen: []}); } })()
"""


class DevTools:
    """One page of a headless Chromium, driven over the DevTools protocol."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.next_id = 0

    async def call(self, method: str, **params):
        self.next_id += 1
        await self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), WAIT))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    async def dom(self) -> dict:
        result = await self.call("Runtime.evaluate", expression=READ_DOM, returnByValue=True)
        return json.loads(result["result"]["value"])

    async def wait_dom(self, check, what: str) -> dict:
        deadline = time.monotonic() + WAIT
        while True:
            dom = await self.dom()
            if check(dom):
                return dom
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page never showed {what}; it shows {dom}")
            await asyncio.sleep(0.05)


@pytest.fixture
def chromium(tmp_path):
    """A headless Chromium with its DevTools on a port it picks; stopped at the end."""
    profile = tempfile.mkdtemp(dir=tmp_path)
    proc = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
                             f"--user-data-dir={profile}", "--window-size=1000,600", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port = None
        deadline = time.monotonic() + WAIT
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline().decode(errors="replace")
            if not line and proc.poll() is not None:
                break
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
        assert port is not None, "chromium did not start its DevTools"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=WAIT) as r:
            pages = [t for t in json.load(r) if t["type"] == "page"]
        yield pages[0]["webSocketDebuggerUrl"]
    finally:
        proc.kill()
        proc.wait(10)


async def drive(ws_url: str, page: str, st, served_before: int) -> dict:
    async with websockets.connect(ws_url, max_size=64 * 1024 * 1024) as ws:
        dt = DevTools(ws)
        await dt.call("Page.enable")
        await dt.call("Page.addScriptToEvaluateOnNewDocument", source=RECORDER)
        await dt.call("Page.navigate", url=page)
        first = await dt.wait_dom(lambda d: d["state"] == "ok" and d["rows"], "/status")
        # Requests while the page watches: it must show them, with a rate above zero beside them.
        for _ in range(5):
            assert request(st.port, "GET", "/users/8").status == 200
        want = str(int(first["total"]) + 5)
        dom = await dt.wait_dom(lambda d: d["total"] == want, f"{want} requests")
        shot = await dt.call("Page.captureScreenshot", format="png")
        os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
        with open(SCREENSHOT, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        dom["first"] = first
        return dom


def test_the_page_shows_backends_and_a_live_rate(make_stack, chromium):
    st, mport = start_with_metrics(make_stack)
    backend = st.start_backend("--generation", "11")
    for _ in range(3):
        assert request(st.port, "GET", "/users/1").status == 200
    served = status_json(mport)["backends"][0]["served"]
    dom = asyncio.run(drive(chromium, f"http://127.0.0.1:{mport}/status.html", st, served))

    (row,) = dom["rows"]
    assert (row["app"], row["pid"], row["generation"], row["state"]) == \
        ("e2e_app:app", str(backend.pid), "11", "ready")
    assert int(row["served"]) == served + 5
    assert row["in_flight"] == "0" and dom["in_flight"] == "0"
    (first_row,) = dom["first"]["rows"]
    assert int(first_row["served"]) == served
    # The update that first showed the new total showed a rate above zero with it.
    rates = [float(rate) for total, rate in dom["seen"] if total == dom["total"] and rate != "-"]
    assert rates and rates[0] > 0, dom["seen"]
    with open(SCREENSHOT, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
