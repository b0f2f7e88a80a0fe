"""Headless Chromium driven over the DevTools protocol on a pipe: no driver, no dependency.

``chromium --remote-debugging-pipe`` reads protocol commands (JSON, each ended by a NUL byte)
on its file descriptor 3 and writes replies and events on 4. That is enough to open a page,
wait until it shows what it should, press a key and take a screenshot, which the one-shot
``--screenshot`` flag cannot do for a page that keeps fetching (the Dagster UI). Used by
``make screenshots``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM_FLAGS", "Chromium", "find_chromium"]

# The flags that keep a headless Chromium from reaching the network on its own.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_chromium() -> str:
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        raise SystemExit("Chromium is needed: apt-get install -y chromium (or set CHROMIUM).")
    return found


def _high_pipe() -> tuple[int, int]:
    """A close-on-exec pipe whose two ends are numbered 10 or more (clear of fds 3 and 4)."""
    ends = []
    for fd in os.pipe():
        ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(fd)
    return ends[0], ends[1]


class Chromium:
    """One headless browser with one tab, in a fresh profile directory."""

    def __init__(self, profile: Path, width: int, height: int) -> None:
        to_browser_r, self._to_browser = _high_pipe()
        self._from_browser, from_browser_w = _high_pipe()
        arguments = [
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "--remote-debugging-pipe",
            "about:blank",
        ]

        def wire() -> None:  # in the child, before exec: its fds 3 and 4 become the pipes
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        # close_fds=False keeps the new fds 3 and 4 open across exec; every other descriptor
        # of this process is close-on-exec (PEP 446), the pipe ends above 10 included.
        self._process = subprocess.Popen(
            [find_chromium(), *arguments],
            close_fds=False,
            preexec_fn=wire,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        self._session = attached["sessionId"]
        self.call("Page.enable", session=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            self.call("Browser.close")
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError("Chromium stopped answering")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed its pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: bool = False,
        timeout: float = 60,
    ) -> dict[str, Any]:
        """Send one command and return its result (events met meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self._events.append(reply)

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True
        )
        return result.get("result", {}).get("value")

    def open(self, url: str, shows: tuple[str, ...], timeout: float = 90) -> None:
        """Navigate to ``url`` and wait until its text contains every string of ``shows``."""
        self.call("Page.navigate", {"url": url}, session=True)
        check = " && ".join(f"document.body.innerText.includes({json.dumps(s)})" for s in shows)
        deadline = time.monotonic() + timeout
        while not self.evaluate(f"!!document.body && ({check or 'true'})"):
            if time.monotonic() > deadline:
                text = self.evaluate("document.body ? document.body.innerText : ''")
                raise TimeoutError(f"{url} never showed {shows}; it shows:\n{str(text)[:1500]}")
            time.sleep(0.25)

    def press(self, key: str, code: str, *, alt: bool = False) -> None:
        """One key press (``alt``: with the Alt key held), as a user's keyboard sends it."""
        modifiers = 1 if alt else 0
        for kind in ("keyDown", "keyUp"):
            self.call(
                "Input.dispatchKeyEvent",
                {"type": kind, "key": key, "code": code, "modifiers": modifiers},
                session=True,
            )

    def settle(self, seconds: float = 1.5) -> None:
        """Let animations and the last fetches finish (the page is already showing its data)."""
        time.sleep(seconds)

    def screenshot(self, target: Path) -> None:
        shot = self.call("Page.captureScreenshot", {"format": "png"}, session=True)
        target.write_bytes(base64.b64decode(shot["data"]))
