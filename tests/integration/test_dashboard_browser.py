"""The live dashboard in a real browser: Debian's chromium (headless), driven through the
DevTools protocol (aiohttp's websocket client), in the daemon's private network namespace.

The page loads without console errors or uncaught exceptions, shows the Deployment, and its
replica count follows a scale-up (2 → 4) within seconds. Screenshots before and after are
kept as test artifacts (``.cache/test-artifacts/dashboard/``). Skipped, with the reason,
where chromium is not installed (``make setup`` installs it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from daemon_kit import IMAGE_CACHE, REPO
from kube_kit import KubeDaemon, kube, wait_until

pytestmark = [pytest.mark.root, pytest.mark.slow]
__all__ = ["kube"]

ARTIFACTS = REPO / ".cache" / "test-artifacts" / "dashboard"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: web, image: "busybox:latest", command: [sleep, "3600"]}]
"""


class Page:
    """One tab, over the DevTools protocol: commands, console errors, exceptions."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.next_id = ws, 0
        self.problems: list[str] = []
        self.replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.replies:
                self.replies.pop(data["id"]).set_result(data)
            method, params = data.get("method"), data.get("params") or {}
            if method == "Runtime.exceptionThrown":
                self.problems.append(json.dumps(params.get("exceptionDetails"))[:300])
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                self.problems.append(json.dumps(params.get("args"))[:300])
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                self.problems.append(params["entry"].get("text", "")[:300])

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[self.next_id] = fut
        await self.ws.send_str(json.dumps({"id": self.next_id, "method": method,
                                           "params": params}))  # fmt: skip
        reply = await asyncio.wait_for(fut, 30)
        assert "error" not in reply, reply
        return dict(reply.get("result") or {})

    async def text_of(self, selector: str) -> str | None:
        expr = f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || null"
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        value = r["result"].get("value")
        return None if value is None else str(value)

    async def screenshot(self, path: Path) -> None:
        r = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(r["data"]))


async def _until(fn: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await fn()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def _chromium(kube: KubeDaemon, profile: Path) -> tuple[subprocess.Popen[str], str]:
    """chromium --headless in the daemon's namespaces; its DevTools websocket URL."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe is not None
    p = subprocess.Popen(
        ["nsenter", "-t", str(kube.holder), "-n", "-m", "--", exe, "--headless=new",
         "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1100,900",
         f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert p.stderr is not None
    for line in p.stderr:  # "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/..."
        if "DevTools listening on" in line:
            return p, line.split("listening on", 1)[1].strip()
    raise AssertionError("chromium exited before its DevTools endpoint came up")


async def _browse(kube: KubeDaemon, browser_ws: str, url: str) -> list[str]:
    import aiohttp

    port = browser_ws.split("127.0.0.1:", 1)[1].split("/", 1)[0]
    # The DevTools endpoint listens on the namespace's loopback: reach it through a socket
    # made there (the test process stays in the host's namespaces).
    from dockyard.network._netns import in_netns

    netns = f"/proc/{kube.holder}/ns/net"

    class NsConnector(aiohttp.TCPConnector):
        async def _create_direct_connection(self, req: Any, traces: Any, timeout: Any,
                                            client_error: Any = None) -> Any:  # fmt: skip
            import socket

            sock = in_netns(netns, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            await loop.sock_connect(sock, ("127.0.0.1", int(port)))
            return await loop.create_connection(self._factory, sock=sock)

    async with aiohttp.ClientSession(connector=NsConnector(force_close=True)) as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
            targets = await r.json(content_type=None)
        page_ws = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        async with http.ws_connect(page_ws, max_msg_size=0) as ws:
            page = Page(ws)
            for domain in ("Page", "Runtime", "Log"):
                await page.call(f"{domain}.enable")
            await page.call("Page.navigate", url=url)
            sel = '.replicas[data-name="web"]'
            await _until(lambda: _eq(page, sel, "2/2"), 30, "2/2 replicas on the page")
            await page.screenshot(ARTIFACTS / "before-scale.png")
            kube.run("scale", "deploy/web", "--replicas", "4", check=True)
            t0 = time.monotonic()
            await _until(lambda: _eq(page, sel, "4/4"), 60, "4/4 replicas on the page")
            followed = time.monotonic() - t0
            await page.screenshot(ARTIFACTS / "after-scale.png")
            assert await page.text_of("#hpas") is not None
            page.reader.cancel()
            (ARTIFACTS / "timing.txt").write_text(f"scale 2 -> 4 shown after {followed:.2f} s\n")
            return page.problems


async def _eq(page: Page, selector: str, want: str) -> bool:
    return await page.text_of(selector) == want


def test_dashboard_in_chromium_follows_a_scale_up(kube: KubeDaemon, tmp_path: Path) -> None:
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("chromium is not installed (make setup installs it)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    kube.start()
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)
    assert kube.apply(DEPLOYMENT).returncode == 0
    wait_until(lambda: len(kube.ready_pods("app=web")) == 2, 60, "2 ready pods")
    url = kube.out("dashboard")
    assert url.startswith("http://127.0.0.1:") and url.endswith("/")
    assert kube.out("dashboard") == url  # a second call: the same dashboard
    browser, ws = _chromium(kube, tmp_path / "profile")
    try:
        problems = asyncio.run(_browse(kube, ws, url))
    finally:
        import os

        os.killpg(browser.pid, signal.SIGKILL)
        browser.wait()
        if browser.stderr is not None:
            browser.stderr.close()
    assert problems == [], problems
