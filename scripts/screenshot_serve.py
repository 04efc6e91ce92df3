#!/usr/bin/env python3
"""Start `mnistflow serve`, draw digits on its page in headless Chromium with the mouse, check
what it reads, and save a screenshot of the answer (README's docs/serve.png).

    python scripts/screenshot_serve.py --digit 3 7 0 --out docs/serve.png
    python scripts/screenshot_serve.py --digit 7 --out /tmp/seven.png -- --model lenet5
    python scripts/screenshot_serve.py --digit 0 -- --model-uri models:/mnist-deepcnn@champion

Arguments after ``--`` go to `mnistflow serve` (which model). The server runs from the current
folder (the project), on 127.0.0.1 and a free port, and is stopped with Ctrl-C (SIGINT) at the
end; the browser reaches that server only (every other host is unreachable). Prints the page's
answer to each digit as one JSON line and one line saying what it read. Exit status 1 when the
page shows an error or reads a digit as another, 2 when there is no browser. The page driver
(:class:`Page`, :func:`draw_digit`, :func:`start_server`) is what tests/test_serve_page.py uses.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

try:  # run as a script: scripts/ is on the path
    from check_html import BrowserError, DevTools, find_browser
except ImportError:  # imported by the tests, from the project folder
    from scripts.check_html import BrowserError, DevTools, find_browser

START_TIMEOUT_S = 120  # the server imports torch and loads the model before it listens
ANSWER_TIMEOUT_S = 30

# Each digit as pen strokes in the canvas's own units, 0-1 from its top-left corner, written the
# way people write them: smooth curves through these points (:func:`smooth`); a point given
# twice is a corner.
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [[(0.5 + 0.2 * math.sin(t * math.pi / 12), 0.5 - 0.31 * math.cos(t * math.pi / 12)) for t in range(26)]],
    1: [[(0.42, 0.26), (0.55, 0.15), (0.55, 0.15), (0.55, 0.85)]],
    2: [
        [(0.3, 0.3), (0.38, 0.18), (0.52, 0.14), (0.66, 0.2), (0.68, 0.34), (0.56, 0.5), (0.3, 0.83), (0.3, 0.83)]
        + [(0.72, 0.83)]
    ],
    3: [
        [(0.31, 0.23), (0.42, 0.15), (0.56, 0.14), (0.66, 0.21), (0.66, 0.33), (0.57, 0.43), (0.45, 0.47)],
        [(0.45, 0.47), (0.59, 0.5), (0.69, 0.6), (0.69, 0.73), (0.59, 0.83), (0.44, 0.86), (0.31, 0.8)],
    ],
    4: [[(0.58, 0.85), (0.58, 0.15), (0.58, 0.15), (0.28, 0.6), (0.28, 0.6), (0.74, 0.6)]],
    5: [
        [
            (0.68, 0.16),
            (0.36, 0.16),
            (0.33, 0.46),
            (0.5, 0.42),
            (0.65, 0.5),
            (0.69, 0.66),
            (0.6, 0.82),
            (0.44, 0.85),
            (0.31, 0.79),
        ]
    ],
    6: [
        [
            (0.64, 0.16),
            (0.48, 0.26),
            (0.36, 0.46),
            (0.33, 0.66),
            (0.4, 0.82),
            (0.54, 0.86),
            (0.66, 0.77),
            (0.67, 0.62),
            (0.56, 0.52),
            (0.43, 0.54),
            (0.35, 0.64),
        ]
    ],
    7: [[(0.3, 0.18), (0.7, 0.18), (0.7, 0.18), (0.56, 0.48), (0.45, 0.85)]],
    8: [
        [
            (0.62, 0.22),
            (0.5, 0.14),
            (0.37, 0.22),
            (0.39, 0.36),
            (0.62, 0.58),
            (0.65, 0.75),
            (0.5, 0.86),
            (0.35, 0.76),
            (0.38, 0.58),
            (0.6, 0.38),
            (0.62, 0.22),
        ]
    ],
    9: [
        [
            (0.64, 0.3),
            (0.52, 0.16),
            (0.38, 0.2),
            (0.35, 0.36),
            (0.47, 0.45),
            (0.64, 0.36),
            (0.64, 0.2),
            (0.62, 0.55),
            (0.56, 0.86),
        ]
    ],
}

MOUSE = ("mousePressed", "mouseMoved", "mouseReleased")

# What the page shows, read from its elements (the values the bars and texts were drawn from).
READ_JS = r"""
(() => {
  const el = (id) => document.getElementById(id);
  const about = {};
  document.querySelectorAll("#about dd").forEach((dd) => { about[dd.dataset.field] = dd.textContent; });
  return {
    asked: Number(document.body.dataset.asked || 0),
    answered: Number(document.body.dataset.answered || 0),
    status: el("status").textContent,
    error: el("error").hidden ? null : el("error").textContent,
    digit: el("result").hidden ? null : Number(el("digit").textContent),
    model: el("result").hidden ? null : el("result").dataset.model,
    top: [...document.querySelectorAll("#top li")].map((li) => (
      { digit: Number(li.dataset.digit), probability: Number(li.dataset.probability), shown: li.textContent })),
    square: el("square").textContent,
    about,
  };
})()
"""


class Page:
    """One tab of a headless Chromium that reaches only servers on this machine; it answers for
    ``timeout`` seconds at most (then every call fails: a hung browser cannot hang the caller)."""

    def __init__(self, browser: str, width: int = 980, height: int = 640, timeout: float = 600.0):
        self.tools = DevTools(browser, width, height, time.monotonic() + timeout, loopback=True)
        try:
            target = self.tools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.tools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for method in ("Page.enable", "Runtime.enable", "Network.enable", "DOM.enable"):
                self.send(method)
        except BaseException:
            self.tools.close()
            raise

    def send(self, method: str, params: dict | None = None) -> dict:
        return self.tools.send(method, params, session=self.session)

    def evaluate(self, expression: str):
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in reply:
            raise BrowserError(f"page script failed: {reply['exceptionDetails'].get('text')}")
        return reply["result"].get("value")

    def wait(self, expression: str, timeout: float, what: str):
        """Poll ``expression`` until it is truthy; its value. BrowserError after ``timeout``."""
        until = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > until:
                raise BrowserError(f"{what}: not within {timeout:g} s")
            self.tools.pump(0.1)

    def open(self, url: str) -> None:
        navigated = self.send("Page.navigate", {"url": url})
        if navigated.get("errorText"):
            raise BrowserError(f"cannot open {url}: {navigated['errorText']}")
        self.wait("document.body && document.body.dataset.ready === 'true'", ANSWER_TIMEOUT_S, f"{url} ready")

    def mouse(self, kind: str, x: float, y: float) -> None:
        self.send(
            "Input.dispatchMouseEvent",
            {
                "type": kind,
                "x": x,
                "y": y,
                "button": "left",
                "buttons": 0 if kind == "mouseReleased" else 1,
                "clickCount": 1,
            },
        )

    def touch(self, kind: str, x: float, y: float) -> None:
        points = [] if kind == "touchEnd" else [{"x": x, "y": y}]
        self.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    def stroke(self, points: list[tuple[float, float]], step: float = 6.0, touch: bool = False) -> None:
        """Press the left button (or a finger, ``touch``) at the first point, move through the
        others in steps of ``step`` CSS pixels, lift at the last: real input events, as a user
        drawing."""
        press, move, lift = ("touchStart", "touchMove", "touchEnd") if touch else MOUSE
        event = self.touch if touch else self.mouse
        event(press, *points[0])
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            n = max(1, int(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 / step))
            for i in range(1, n + 1):
                event(move, x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n)
        event(lift, *points[-1])

    def read(self) -> dict:
        return self.evaluate(READ_JS)

    def answer(self, after: int) -> dict:
        """What the page shows once it has answered its request number ``after`` or a later one."""
        self.wait(
            f"(d => Number(d.asked) > {after} && d.asked === d.answered)(document.body.dataset)",
            ANSWER_TIMEOUT_S,
            "the page's answer",
        )
        return self.read()

    def canvas_png(self) -> bytes:
        """The drawing as the page sends it: the canvas as a PNG."""
        url = self.evaluate("document.getElementById('pad').toDataURL('image/png')")
        return base64.b64decode(url.split(",", 1)[1])

    def screenshot(self, path: Path) -> None:
        shot = self.send("Page.captureScreenshot", {"format": "png"})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def requests(self) -> list[str]:
        """Every URL the page asked for so far."""
        return [e["params"]["request"]["url"] for e in self.tools.events if e["method"] == "Network.requestWillBeSent"]

    def errors(self) -> list[str]:
        """JavaScript exceptions and console errors so far."""
        out = []
        for e in self.tools.events:
            if e["method"] == "Runtime.exceptionThrown":
                out.append(e["params"]["exceptionDetails"].get("text", "exception"))
            elif e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in e["params"]["args"]))
        return out

    def close(self) -> None:
        self.tools.close()


def smooth(points: list[tuple[float, float]], per: int = 8) -> list[tuple[float, float]]:
    """A Catmull-Rom curve through ``points``, ``per`` points per segment (a repeated point
    makes a corner)."""
    corners = [i for i in range(1, len(points)) if points[i] == points[i - 1]]
    if corners:  # each piece between corners is a curve of its own
        first, rest = points[: corners[0]], points[corners[0] :]
        return smooth(first, per) + smooth(rest, per)[1:]
    if len(points) < 3:
        return points
    padded = [points[0], *points, points[-1]]
    out = [points[0]]
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1 : i + 3]
        for k in range(1, per + 1):
            t = k / per
            out.append(
                tuple(
                    0.5 * (2 * b + (c - a) * t + (2 * a - 5 * b + 4 * c - d) * t * t + (3 * b - a - 3 * c + d) * t**3)
                    for a, b, c, d in zip(p0, p1, p2, p3)
                )
            )
    return out


def draw_digit(page: Page, digit: int, clear: bool = True, touch: bool = False) -> dict:
    """Clear the canvas, draw ``digit`` (:data:`STROKES`) with the mouse (or a finger, ``touch``),
    and return what the page shows once it has answered the last stroke."""
    if clear:
        page.evaluate("document.getElementById('clear').click()")
    box = page.evaluate(
        "(() => { const r = document.getElementById('pad').getBoundingClientRect(); "
        "return [r.left, r.top, r.width, r.height]; })()"
    )
    left, top, width, height = box
    before = page.read()["asked"]
    for line in STROKES[digit]:
        page.stroke([(left + x * width, top + y * height) for x, y in smooth(line)], touch=touch)
    return page.answer(before)


def start_server(args: list[str], cwd: Path | None = None, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`python -m mnistflow serve --host 127.0.0.1 ARGS` (a free port); (the process, the page's
    URL it printed). Its output is collected in ``proc.printed`` (a list of lines, growing).
    The caller stops it with :func:`stop_server`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnistflow", "serve", "--host", "127.0.0.1", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    printed: list[str] = []
    proc.printed = printed  # type: ignore[attr-defined]
    reader = threading.Thread(target=lambda: printed.extend(line.rstrip("\n") for line in proc.stdout), daemon=True)
    reader.start()
    proc.reader = reader  # type: ignore[attr-defined]
    until = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < until:
        for line in list(printed):
            found = re.search(r"serving (http://\S+)", line)
            if found:
                return proc, found.group(1)
        if proc.poll() is not None:
            reader.join(timeout=5)
            raise RuntimeError(f"mnistflow serve exited {proc.returncode}: {' | '.join(printed)}")
        time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError(f"mnistflow serve printed no address within {START_TIMEOUT_S} s: {' | '.join(printed)}")


def stop_server(proc: subprocess.Popen, timeout: float = 20.0) -> tuple[int, list[str]]:
    """Ctrl-C (SIGINT) to the server, as a user stops it; killed if it does not stop within
    ``timeout``. (its exit status, every line it printed)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    proc.reader.join(timeout=5)  # type: ignore[attr-defined]
    return proc.returncode, proc.printed  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, server_args = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--digit",
        type=int,
        nargs="+",
        choices=range(10),
        default=[3],
        help="the digits to draw, one after another (default 3); the screenshot shows the first",
    )
    parser.add_argument("--out", type=Path, default=Path("docs/serve.png"), help="the screenshot (PNG)")
    parser.add_argument("--browser", help="the Chromium executable (default: the first found on PATH)")
    args = parser.parse_args(ours)
    try:
        browser = find_browser(args.browser)
    except BrowserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    proc, url = start_server(server_args)
    answers = []
    try:
        page = Page(browser)
        try:
            page.open(url)
            for i, digit in enumerate(args.digit):
                answers.append({"drawn": digit, **draw_digit(page, digit)})
                if i == 0:
                    page.tools.pump(0.5)  # the bars' last paint
                    page.screenshot(args.out)
        finally:
            page.close()
    finally:
        stop_server(proc)
    wrong = 0
    for shown in answers:
        print(json.dumps({"url": url, **shown}))
        if shown["error"] or shown["digit"] is None:
            print(f"error: drew {shown['drawn']}, the page shows no answer: {shown['error'] or shown['status']}")
            wrong += 1
            continue
        read = "" if shown["digit"] == shown["drawn"] else "  WRONG"
        wrong += bool(read)
        print(f"drew {shown['drawn']}, the page answers {shown['digit']} ({shown['about'].get('model')}){read}")
    print(f"{args.out}: the page after drawing {args.digit[0]}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
