"""A small Chrome DevTools Protocol client for headless Chromium (the Debian `chromium` package).

Only what the dashboard's browser test needs: start Chromium in its own process group, attach to
one page over the DevTools WebSocket (websockets' sync client), navigate, evaluate JavaScript,
wait for a condition, emulate a viewport or colour scheme, and capture PNG screenshots. Every
wait has a timeout and fails with a message naming what it waited for. Chromium is stopped by
its process id (its whole process group), never by name.

    with Browser() as browser:
        page = browser.page
        page.navigate("http://127.0.0.1:8501/")
        page.wait_for("document.readyState === 'complete'", "the page to load")
        png = page.screenshot()

It also holds a tiny PNG decoder (`decode_png`, zlib + the five PNG filters) so a test can check
a screenshot's size and pixels without Pillow.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

from websockets.sync.client import connect as ws_connect

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--remote-debugging-port=0",
    "--no-first-run", "--no-default-browser-check", "--disable-dev-shm-usage",
    "--hide-scrollbars", "--mute-audio",
)


class BrowserError(RuntimeError):
    """Chromium could not be started, or a DevTools command failed."""


class BrowserTimeout(BrowserError):
    """A wait ran out of time; the message names what was awaited and what was last seen."""


def find_chromium() -> str | None:
    """The Chromium executable: $CHROMIUM if set, else the Debian package's."""
    env = os.environ.get("CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


class Page:
    """One page target, driven over a flattened DevTools session on the browser's WebSocket."""

    def __init__(self, browser: Browser, session_id: str, target_id: str) -> None:
        self._browser = browser
        self.session_id = session_id
        self.target_id = target_id
        self.viewport: tuple[int, int, float] | None = None

    def send(self, method: str, params: dict | None = None, timeout: float | None = None) -> dict:
        return self._browser.send(method, params, session_id=self.session_id, timeout=timeout)

    # ---------------------------------------------------------------- navigation and JavaScript

    def navigate(self, url: str, timeout: float = 30.0) -> None:
        """Open `url` and wait for its load event (the app's own rendering is awaited separately)."""
        self._browser.drain_events()
        result = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if result.get("errorText"):
            raise BrowserError(f"navigating to {url} failed: {result['errorText']}")
        self._browser.wait_event("Page.loadEventFired", self.session_id, timeout,
                                 f"the load event of {url}")

    def evaluate(self, expression: str, timeout: float = 10.0) -> Any:
        """The value of a JavaScript expression (promises are awaited); a JS exception raises."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"JavaScript error in {expression[:80]!r}: {text}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 30.0, interval: float = 0.25) -> Any:
        """Poll a JavaScript expression until it is truthy; return its value.

        On timeout, BrowserTimeout says what was awaited and the expression's last value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            last = self.evaluate(expression)
            if last:
                return last
            if time.monotonic() >= deadline:
                raise BrowserTimeout(f"timed out after {timeout:.0f} s waiting for {what}; "
                                     f"last value: {json.dumps(last)[:500]}")
            time.sleep(interval)

    def wait_stable(self, expression: str, what: str, timeout: float = 30.0, quiet: float = 1.0,
                    interval: float = 0.25) -> Any:
        """Wait until `expression` is truthy and its value stays the same for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        previous: Any = None
        since = time.monotonic()
        while True:
            value = self.evaluate(expression)
            now = time.monotonic()
            if not value or value != previous:
                previous, since = value, now
            elif now - since >= quiet:
                return value
            if now >= deadline:
                raise BrowserTimeout(f"timed out after {timeout:.0f} s waiting for {what} to settle; "
                                     f"last value: {json.dumps(value)[:500]}")
            time.sleep(interval)

    # ---------------------------------------------------------------- emulation and screenshots

    def set_viewport(self, width: int, height: int, scale: float = 1.0, mobile: bool = False) -> None:
        self.send("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile,
            "screenWidth": width, "screenHeight": height})
        self.send("Emulation.setTouchEmulationEnabled", {"enabled": mobile, "maxTouchPoints": 5 if mobile else 1})
        self.viewport = (width, height, scale)

    def set_color_scheme(self, scheme: str | None) -> None:
        """Emulate `prefers-color-scheme` ('dark' / 'light'; None restores the default)."""
        features = [{"name": "prefers-color-scheme", "value": scheme}] if scheme else []
        self.send("Emulation.setEmulatedMedia", {"features": features})

    def screenshot(self, path: Path | None = None, timeout: float = 30.0) -> bytes:
        """A PNG of the viewport; written to `path` when given."""
        data = self.send("Page.captureScreenshot", {"format": "png", "fromSurface": True},
                         timeout=timeout)["data"]
        png = base64.b64decode(data)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_bytes(png)
        return png


class Browser:
    """Headless Chromium in its own process group, stopped by its PID on `stop()` / exit."""

    def __init__(self, executable: str | None = None, width: int = 1280, height: int = 900,
                 start_timeout: float = 30.0, command_timeout: float = 30.0) -> None:
        self.executable = executable or find_chromium()
        if not self.executable:
            raise BrowserError("no Chromium found (install Debian's `chromium`, or set CHROMIUM)")
        self.width, self.height = width, height
        self.start_timeout = start_timeout
        self.command_timeout = command_timeout
        self.process: subprocess.Popen | None = None
        self.profile: Path | None = None
        self.ws = None
        self.page: Page | None = None
        self._ids = itertools.count(1)
        self._events: list[dict] = []
        self._stderr = None

    # ---------------------------------------------------------------- life cycle

    def __enter__(self) -> Browser:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> Browser:
        self.profile = Path(tempfile.mkdtemp(prefix="sidetrack-chromium-"))
        self._stderr = open(self.profile / "stderr.log", "w+b")  # noqa: SIM115  (closed in stop())
        args = [self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile / 'profile'}",
                f"--window-size={self.width},{self.height}", "about:blank"]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=self._stderr, start_new_session=True)
        try:
            url = self._devtools_url()
            self.ws = ws_connect(url, max_size=None, open_timeout=self.start_timeout,
                                 close_timeout=2, ping_interval=None)
            target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            self.page = Page(self, session, target)
            for domain in ("Page.enable", "Runtime.enable"):
                self.page.send(domain)
            self.page.set_viewport(self.width, self.height)
        except BaseException:
            self.stop()
            raise
        return self

    def _devtools_url(self) -> str:
        """The browser's DevTools WebSocket URL, from stderr or the DevToolsActivePort file."""
        deadline = time.monotonic() + self.start_timeout
        port_file = self.profile / "profile" / "DevToolsActivePort"
        while time.monotonic() < deadline:
            for line in self._stderr_text().splitlines():
                if "DevTools listening on " in line:
                    return line.split("DevTools listening on ", 1)[1].strip()
            if port_file.is_file():
                lines = port_file.read_text().split()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            if self.process.poll() is not None:
                raise BrowserError(f"Chromium exited with code {self.process.returncode} before DevTools "
                                   f"was ready; stderr:\n{self.stderr_tail()}")
            time.sleep(0.1)
        raise BrowserTimeout(f"Chromium did not open DevTools within {self.start_timeout:.0f} s; "
                             f"stderr:\n{self.stderr_tail()}")

    def _stderr_text(self) -> str:
        if self._stderr is None or self._stderr.closed:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def stderr_tail(self, chars: int = 3000) -> str:
        return self._stderr_text()[-chars:]

    def stop(self) -> None:
        """Close the connection and end Chromium's process group (by PID), then remove its profile."""
        if self.ws is not None:
            try:
                self.ws.send(json.dumps({"id": next(self._ids), "method": "Browser.close"}))
            except Exception:  # noqa: BLE001  (it may already be gone)
                pass
            try:
                self.ws.close()
            except Exception:  # noqa: BLE001
                pass
            self.ws = None
        if self.process is not None:
            _stop_group(self.process, grace=5.0)
            self.process = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self.profile is not None:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile = None

    # ---------------------------------------------------------------- the protocol

    def send(self, method: str, params: dict | None = None, session_id: str | None = None,
             timeout: float | None = None) -> dict:
        """Send one command and wait for its answer; events arriving meanwhile are queued."""
        if self.ws is None:
            raise BrowserError(f"{method}: the browser is not connected")
        timeout = self.command_timeout if timeout is None else timeout
        message_id = next(self._ids)
        message = {"id": message_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline, f"the answer to {method}")
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise BrowserError(f"{method} failed: {reply['error'].get('message')} "
                                       f"{reply['error'].get('data', '')}".rstrip())
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def wait_event(self, method: str, session_id: str | None, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self._events):
                if event.get("method") == method and event.get("sessionId") == session_id:
                    return self._events.pop(i)
            event = self._receive(deadline, what)
            if "method" in event:
                self._events.append(event)

    def drain_events(self) -> None:
        self._events.clear()

    def _receive(self, deadline: float, what: str) -> dict:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrowserTimeout(f"timed out waiting for {what}")
        try:
            raw = self.ws.recv(timeout=remaining)
        except TimeoutError:
            raise BrowserTimeout(f"timed out waiting for {what}") from None
        except Exception as exc:  # noqa: BLE001  (connection closed: say why, with Chromium's stderr)
            alive = self.process is not None and self.process.poll() is None
            raise BrowserError(f"DevTools connection lost while waiting for {what} ({exc!r}); "
                               f"Chromium {'running' if alive else 'exited'}; stderr:\n{self.stderr_tail()}") from exc
        return json.loads(raw)


def _stop_group(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM the process group led by `process` (started with start_new_session), then SIGKILL."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    # helpers (renderer, GPU, zygote) share the group; make sure none is left behind
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass


stop_process_group = _stop_group


# ------------------------------------------------------------------------------- PNG decoding

def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, channels, raw 8-bit pixel rows without filter bytes) of a non-interlaced
    8-bit greyscale/RGB/RGBA PNG, as Chromium writes them."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, colour, _compression, _filter, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"unsupported PNG (depth {depth}, colour type {colour}, interlace {interlace})")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    out = bytearray(height * stride)
    prev = bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif ftype == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif ftype == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b, c = prev[i], (prev[i - channels] if i >= channels else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        elif ftype != 0:
            raise ValueError(f"bad PNG filter {ftype} on row {y}")
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return width, height, channels, bytes(out)


def png_stats(data: bytes) -> dict:
    """Size, distinct colours and mean/variance of luminance of a PNG (Pillow when installed)."""
    try:
        from PIL import Image, ImageStat
        import io

        with Image.open(io.BytesIO(data)) as img:
            rgb = img.convert("RGB")
            grey = rgb.convert("L")
            stat = ImageStat.Stat(grey)
            colours = rgb.getcolors(maxcolors=1 << 20)
            return {"width": img.width, "height": img.height, "mean": stat.mean[0],
                    "variance": stat.var[0], "colours": len(colours) if colours is not None else 1 << 20}
    except ImportError:
        pass
    width, height, channels, pixels = decode_png(data)
    if channels >= 3:
        lum = [(299 * pixels[i] + 587 * pixels[i + 1] + 114 * pixels[i + 2]) / 1000
               for i in range(0, len(pixels), channels)]
        colours = len({pixels[i:i + 3] for i in range(0, len(pixels), channels)})
    else:
        lum = list(pixels[::channels])
        colours = len(set(lum))
    mean = sum(lum) / len(lum)
    return {"width": width, "height": height, "mean": mean,
            "variance": sum((v - mean) ** 2 for v in lum) / len(lum), "colours": colours}
