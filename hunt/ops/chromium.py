"""Headless Chromium for the dashboard test: find it (or install Debian's package) and drive it.

``python -m hunt.ops.chromium`` prints the browser's path, installing it with
``apt-get update && apt-get install -y chromium`` first when it is missing
(root, Debian/Ubuntu). The dashboard test calls :func:`ensure_chromium` too,
so ``make test`` works on a fresh machine, and drives the page with
:class:`Browser`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["Browser", "ChromiumMissing", "ensure_chromium"]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_INSTALL = (
    ["apt-get", "update"],
    ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
)
_START_S = 30.0  # a cold Chromium on a busy 2-core machine starts in a few seconds.
_CALL_S = 30.0  # no single DevTools command of a test takes longer.
_EXIT_S = 10.0  # how long a terminated Chromium may take to exit before it is killed.
_POLL_S = 0.1  # wait_until re-evaluates ten times a second: prompt, and cheap for the page.
_MAX_MESSAGE = 64 * 1024 * 1024  # a full-page screenshot arrives as one base64 message.


class ChromiumMissing(RuntimeError):
    """No Chromium on PATH and it could not be installed here."""


def find_chromium() -> str | None:
    if env := os.environ.get("HUNT_CHROMIUM", "").strip():
        return env
    for name in _CANDIDATES:
        if path := shutil.which(name):
            return path
    return None


def ensure_chromium() -> str:
    """Path of a Chromium binary, installed with apt-get when missing."""
    path = find_chromium()
    if path:
        return path
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise ChromiumMissing(
            "chromium not found; install it (Debian: apt-get install -y chromium) "
            "or set HUNT_CHROMIUM to the browser's path"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in _INSTALL:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ChromiumMissing(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    path = find_chromium()
    if path is None:
        raise ChromiumMissing("apt-get installed chromium but it is not on PATH")
    return path


class Browser:
    """Headless Chromium driven over the DevTools protocol, for tests and screenshots.

    Unlike ``--dump-dom`` with a virtual-time budget, a test waits for what a
    user would wait for (a row, a number) and can type into the page. One tab,
    one command at a time, over the browser's websocket with a flattened
    session; events Chromium sends meanwhile are skipped.
    """

    def __init__(self, user_data_dir: str, width: int = 1280, height: int = 900) -> None:
        self.user_data_dir = Path(user_data_dir)
        self.width = width
        self.height = height
        self._proc: subprocess.Popen[bytes] | None = None
        self._loop = asyncio.new_event_loop()
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._session = ""
        self._next_id = 0

    def __enter__(self) -> Browser:
        self.user_data_dir.mkdir(parents=True, exist_ok=True)
        (self.user_data_dir / "DevToolsActivePort").unlink(missing_ok=True)
        argv = [
            ensure_chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--remote-debugging-port=0",  # Chromium picks a port and writes it to a file.
            f"--user-data-dir={self.user_data_dir}",
            f"--window-size={self.width},{self.height}",
            "about:blank",
        ]
        log = open(self.user_data_dir / "chromium.log", "ab")
        self._proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        try:
            self._loop.run_until_complete(self._connect())
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            if self._ws is not None:
                await self._ws.close()
            if self._http is not None:
                await self._http.close()

        self._loop.run_until_complete(close())
        self._loop.close()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(_EXIT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(_EXIT_S)

    async def _connect(self) -> None:
        port_file = self.user_data_dir / "DevToolsActivePort"
        deadline = time.monotonic() + _START_S
        while not port_file.exists() or len(port_file.read_text().split()) < 2:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._proc.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"chromium wrote no {port_file} within {_START_S} s")
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().split()[:2]
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(
            f"ws://127.0.0.1:{port}{path}", max_msg_size=_MAX_MESSAGE
        )
        target = await self._call("Target.createTarget", {"url": "about:blank"}, browser=True)
        attached = await self._call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, browser=True
        )
        self._session = attached["sessionId"]
        await self._call("Page.enable", {})
        metrics = {"width": self.width, "height": self.height, "deviceScaleFactor": 1}
        await self._call("Emulation.setDeviceMetricsOverride", {**metrics, "mobile": False})

    async def _call(self, method: str, params: dict[str, Any], browser: bool = False) -> Any:
        assert self._ws is not None
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if not browser:
            message["sessionId"] = self._session
        await self._ws.send_str(json.dumps(message))
        while True:
            reply = await self._ws.receive(timeout=_CALL_S)
            if reply.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"chromium closed the DevTools socket during {method}")
            data = json.loads(reply.data)
            if data.get("id") == self._next_id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return data.get("result", {})

    def call(self, method: str, **params: Any) -> Any:
        """Send one DevTools command to the tab and return its result."""
        return self._loop.run_until_complete(self._call(method, params))

    def open(self, url: str) -> None:
        """Navigate the tab and wait until the document has loaded."""
        self.call("Page.navigate", url=url)
        self.wait_until("document.readyState === 'complete' && location.href !== 'about:blank'")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a script expression in the page (promises are awaited)."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:200]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float = 30.0) -> Any:
        """Evaluate ``expression`` until it is truthy; its value, or TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"after {timeout} s still {value!r}: {expression[:300]}")
            time.sleep(_POLL_S)

    def screenshot(self, path: str | Path) -> None:
        """A PNG of the whole page (not just the window) at ``path``."""
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        metrics = {"width": self.width, "height": max(height, self.height), "deviceScaleFactor": 1}
        self.call("Emulation.setDeviceMetricsOverride", **metrics, mobile=False)
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        Path(path).write_bytes(base64.b64decode(shot["data"]))
        metrics["height"] = self.height
        self.call("Emulation.setDeviceMetricsOverride", **metrics, mobile=False)


def main(argv: list[str] | None = None) -> int:
    try:
        print(ensure_chromium())
    except ChromiumMissing as exc:
        print(f"hunt chromium: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
