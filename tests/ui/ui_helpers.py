"""Shared pieces of the page and browser tests: Config API calls, Chromium, DOM reading.

The browser is Debian's ``chromium`` run headless with ``--dump-dom``: it loads the page, runs
its scripts (``--virtual-time-budget`` lets a client-side redirect finish deterministically)
and prints the resulting DOM. No driver and no Python dependency; the tests only read pages,
so nothing needs clicking. Without Chromium the browser tests skip, except under ``CI=true``
(``.ci/run`` installs it), where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

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
)


def config_post(server: Any, path: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.config_api_url}/{path}", json=body, timeout=30, **kw)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def chromium() -> str:
    """The Chromium executable, or skip (fail under ``CI=true``)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "Chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def chromium_command(profile: Path, *args: str) -> list[str]:
    """A headless Chromium command line with a fresh profile directory."""
    return [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]


def dump_dom(url: str, profile: Path) -> str:
    """The DOM of ``url`` after its scripts ran, as Chromium serialises it."""
    result = subprocess.run(
        chromium_command(profile, "--virtual-time-budget=10000", "--dump-dom", url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "<html" in result.stdout, result.stderr[-2000:]
    return result.stdout


class Elements(HTMLParser):
    """Every element's tag, attributes and direct text, in document order."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.texts: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def with_attribute(self, name: str) -> list[dict[str, str]]:
        return [attrs for _, attrs in self.elements if name in attrs]

    def tags(self, tag: str) -> list[dict[str, str]]:
        return [attrs for t, attrs in self.elements if t == tag]
