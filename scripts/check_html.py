#!/usr/bin/env python3
"""Check that an HTML page renders every one of its plots with no network.

    python scripts/check_html.py dvc_plots/index.html [--screenshot page.png]
    python scripts/check_html.py reports/index.html --timeout 60

Opens the page in headless Chromium with all networking blocked (a dead proxy for every
host, loopback included, host names resolving to nothing, and DevTools' offline mode), waits
until its plots have rendered or stop changing (bounded by --timeout), then checks each plot:

- a vega-embed container (an element with class `vega-embed`, or the target of a
  `vegaEmbed('#id', ...)` call in an inline script, or the element holding a script that calls
  `vegaEmbed(`) must show no error text and have drawn its data: where the page keeps the vega
  View (`window.vegaViews[id]`, as dvc_plots_template/offline.html does), at least one item of
  a data mark (axes and legends do not count); elsewhere an <svg> with drawn elements or a
  <canvas> with at least two distinct pixel colours (not blank);
- an <img> (file, relative path or data: URI) must have loaded and decoded to a non-zero size.

Also fails when the page tried to fetch anything from the network (the request is blocked and
named) or threw a JavaScript error or logged one to the console. Prints one line:
`PAGE: 23 of 23 plots rendered offline (21 vega, 2 images)`; on failure the same line with the
reason on stderr, exit status 1. Exit status 2: no browser, no page, or the browser failed.

The browser is Chromium (Debian: `apt-get install chromium`), found on PATH as chromium,
chromium-browser, google-chrome or chrome, or given with --browser. It is driven over the
DevTools protocol on a pipe (--remote-debugging-pipe), with a fresh profile in a temporary
folder; it is always killed, and the folder removed, on the way out. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome:", "chrome-error:", "devtools:")
MAX_SCREENSHOT_HEIGHT = 16384

# Runs in the page; returns one entry per plot. Kept free of page globals so that any page works.
CHECK_JS = r"""
(() => {
  const out = [];
  const seen = new Set();
  const containers = [];
  const add = (el) => { if (el && !seen.has(el)) { seen.add(el); containers.push(el); } };
  const outsideCharts = (el) => {  // text of el that is not a chart, its menu or a script
    let text = "";
    const walk = (node) => {
      for (const c of node.childNodes) {
        if (c.nodeType === Node.TEXT_NODE) text += c.textContent;
        else if (c.nodeType === Node.ELEMENT_NODE &&
                 !["script", "style", "svg", "canvas", "details"].includes(c.localName)) walk(c);
      }
    };
    walk(el);
    return text.replace(/\s+/g, " ").trim();
  };
  const name = (el, i) => el.id || `${el.localName}#${i + 1}`;
  const marks = (node) => {  // drawn items of a vega scenegraph's data marks, groups walked into
    let n = 0;
    for (const item of node.items || []) {
      if (node.marktype === "group") for (const child of item.items || []) n += marks(child);
      else if (node.role === "mark" && item.x !== undefined) n += 1;
    }
    return n;
  };

  document.querySelectorAll(".vega-embed").forEach(add);
  for (const s of document.querySelectorAll("script:not([src])")) {
    const code = s.textContent;
    if (!/vegaEmbed\s*\(/.test(code)) continue;
    const ids = [...code.matchAll(/vegaEmbed\s*\(\s*(['"`])#([^'"`]+)\1/g)].map((m) => m[2]);
    if (ids.length) ids.forEach((id) => add(document.getElementById(id)));
    else if (s.parentElement && !["head", "body"].includes(s.parentElement.localName)) add(s.parentElement);
  }

  containers.forEach((el, i) => {
    const entry = { kind: "vega", name: name(el, i), ok: false, why: "" };
    const errorText = outsideCharts(el);
    const find = (tag) => {  // the chart, not an icon of vega-embed's actions menu
      const all = [...el.querySelectorAll(tag)].filter((e) => !e.closest("details, summary"));
      return all.find((e) => e.classList.contains("marks")) || all[0];
    };
    const svg = find("svg");
    const canvas = find("canvas");
    const view = (window.vegaViews || {})[el.id];
    if (/\berror\b/i.test(errorText)) {
      entry.why = "error text: " + errorText.slice(0, 120);
    } else if (view) {  // the page kept its vega View: count the data marks it drew (not axes, legends)
      const items = marks(view.scenegraph().root);
      if (items > 0) { entry.ok = true; entry.why = `vega view, ${items} mark items`; }
      else entry.why = "vega view with no mark drawn";
    } else if (svg) {
      const box = svg.getBoundingClientRect();
      const drawn = [...svg.querySelectorAll("path, rect, line, circle, ellipse, polygon, polyline, text, image, use")]
        .filter((e) => !e.classList.contains("background")).length;
      if (box.width > 0 && box.height > 0 && drawn > 0) { entry.ok = true; entry.why = `svg, ${drawn} elements`; }
      else entry.why = `svg with ${drawn} drawn elements, ${box.width}x${box.height}`;
    } else if (canvas) {
      if (!canvas.width || !canvas.height) entry.why = "canvas of size 0";
      else {
        try {
          const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
          const colours = new Set();
          for (let p = 0; p < data.length && colours.size < 2; p += 4) {
            colours.add((data[p] << 24 | data[p + 1] << 16 | data[p + 2] << 8 | data[p + 3]) >>> 0);
          }
          if (colours.size >= 2) { entry.ok = true; entry.why = `canvas ${canvas.width}x${canvas.height}`; }
          else entry.why = "blank canvas";
        } catch (e) {  // a canvas that drew a cross-origin image cannot be read: it drew something
          entry.ok = true; entry.why = "canvas (unreadable: " + e.name + ")";
        }
      }
    } else {
      entry.why = errorText ? "no chart, text: " + errorText.slice(0, 120) : "nothing rendered";
    }
    out.push(entry);
  });

  [...document.images].forEach((img, i) => {
    if (img.loading === "lazy") img.loading = "eager";  // off-screen lazy images load too
    const src = img.currentSrc || img.src || "";
    let label = img.alt || src.split(/[\/?#]/).filter(Boolean).pop() || `img#${i + 1}`;
    if (src.startsWith("data:"))
      label = `${img.alt ? img.alt + ", " : ""}${src.slice(0, src.search(/[;,]/))} (${src.length} chars)`;
    const ok = img.complete && img.naturalWidth > 0 && img.naturalHeight > 0;
    out.push({ kind: "image", name: label.slice(0, 100), ok,
               why: ok ? `${img.naturalWidth}x${img.naturalHeight}`
                       : (img.complete ? "did not load or decode" : "still loading") });
  });
  return { ready: document.readyState, url: location.href, plots: out };
})()
"""


class BrowserError(Exception):
    """The browser could not be started or driven (exit status 2)."""


class DevTools:
    """A Chromium driven over the DevTools protocol on a pipe (fd 3 in, fd 4 out, NUL-separated JSON)."""

    def __init__(self, exe: str, width: int, height: int, deadline: float, loopback: bool = False):
        """``loopback``: let the page reach servers on this machine (a local server under test);
        every other host stays unreachable."""
        self.deadline = deadline
        self.profile = tempfile.mkdtemp(prefix="check_html-")
        self.stderr = open(os.path.join(self.profile, "browser-stderr.txt"), "wb")
        self.events: list[dict] = []
        self.buffer = b""
        self.next_id = 0
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def child_fds():  # the browser reads commands on fd 3 and writes replies on fd 4
            r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)

        args = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--no-first-run",
            "--no-default-browser-check",
            "--mute-audio",
            "--hide-scrollbars",
            "--disable-breakpad",
            "--disable-crash-reporter",
            # No network at all: every connection (loopback included, unless ``loopback``) goes to
            # a dead proxy, and no host name resolves. file: and data: pages are not affected.
            "--proxy-server=127.0.0.1:9",
            *([] if loopback else ["--proxy-bypass-list=<-loopback>"]),  # loopback bypasses proxies by default
            "--host-resolver-rules=MAP * ~NOTFOUND" + (", EXCLUDE localhost, EXCLUDE 127.0.0.1" if loopback else ""),
            f"--user-data-dir={self.profile}",
            f"--window-size={width},{height}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        try:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=self.stderr,
                stderr=self.stderr,
                preexec_fn=child_fds,
                close_fds=False,
                start_new_session=True,
            )
        except OSError as e:
            self.close()
            raise BrowserError(f"cannot start {exe}: {e}") from None
        finally:
            os.close(to_browser_r)
            os.close(from_browser_w)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self.to_browser, data) :]
        until = min(time.monotonic() + 20, self.deadline + 20)  # an answer within 20 s, at most
        while True:  # 20 s past the deadline
            reply = self._read(until=until)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})

    def pump(self, seconds: float) -> None:
        """Collect events for up to `seconds` (never past the deadline)."""
        until = min(time.monotonic() + seconds, self.deadline)
        while time.monotonic() < until:
            if not self._read(until=until, quiet=True):
                return

    def _read(self, until: float | None = None, quiet: bool = False) -> dict:
        until = self.deadline if until is None else until
        while b"\0" not in self.buffer:
            left = until - time.monotonic()
            if left <= 0:
                if quiet:
                    return {}
                raise TimeoutError
            ready, _, _ = select.select([self.from_browser], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"the browser exited ({self._last_stderr()})")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        message = json.loads(raw)
        if "method" in message:
            self.events.append(message)
        return message

    def _last_stderr(self) -> str:
        try:
            lines = Path(self.stderr.name).read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        lines = [line for line in lines if "unexpected operator" not in line]
        return lines[-1][:200] if lines else "no message"

    def close(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is not None:
            if proc.poll() is None:  # ask first: the browser then ends and reaps its children
                try:
                    data = json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0"
                    os.write(self.to_browser, data)
                    proc.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            try:  # then the whole process group (renderers, GPU, zygotes), whatever is left of it
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for fd in (getattr(self, "to_browser", None), getattr(self, "from_browser", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)


def find_browser(given: str | None) -> str:
    if given:
        found = shutil.which(given)
        if not found:
            raise BrowserError(f"browser {given!r} not found")
        return found
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserError("no Chromium on PATH (Debian: apt-get install -y --no-install-recommends chromium)")


def open_offline(tools: DevTools, page: Path) -> tuple[str, str | None]:
    """Open `page` in a new tab with networking off: (DevTools session id, navigation error or None)."""
    target = tools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = tools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for method in ("Page.enable", "Runtime.enable", "Network.enable"):
        tools.send(method, session=session)
    tools.send(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        session=session,
    )
    navigated = tools.send("Page.navigate", {"url": page.as_uri()}, session=session)
    return session, navigated.get("errorText")


def wait_rendered(tools: DevTools, session: str, settle: float) -> tuple[dict, bool]:
    """Poll the page's plots until all have rendered, or (once loaded) nothing changed for
    `settle` seconds, or the deadline: (CHECK_JS's last answer, whether the page loaded)."""

    def loaded() -> bool:
        return any(e["method"] == "Page.loadEventFired" for e in tools.events)

    state, previous, stable_since, done = {"plots": []}, None, time.monotonic(), False
    while True:
        tools.pump(0.25)
        state = tools.send("Runtime.evaluate", {"expression": CHECK_JS, "returnByValue": True}, session=session)[
            "result"
        ].get("value") or {"plots": []}
        plots = state["plots"]
        done = loaded() and state.get("ready") == "complete" and state.get("url", "about:blank") != "about:blank"
        if done and plots and all(p["ok"] for p in plots):
            return state, done
        signature = json.dumps(plots)
        if signature != previous:
            previous, stable_since = signature, time.monotonic()
        if done and time.monotonic() - stable_since >= settle:
            return state, done  # nothing changes any more: what is not rendered will not be
        if time.monotonic() >= tools.deadline:
            return state, done


def evaluate(page: Path, expression: str, browser: str | None = None, timeout: float = 60.0, settle: float = 3.0):
    """Open `page` offline as `check` does, wait for its plots, then evaluate the JavaScript
    `expression` in it (a Promise is awaited) and return its value, as JSON gives it back.

    What the tests read the drawn charts with: on a page made with dvc_plots_template/offline.html,
    `window.vegaViews[id]` is each chart's vega View (its scales, data and scenegraph)."""
    deadline = time.monotonic() + timeout
    tools = DevTools(find_browser(browser), 1280, 900, deadline)
    try:
        session, error = open_offline(tools, page.resolve())
        if error:
            raise BrowserError(f"cannot open {page}: {error}")
        wait_rendered(tools, session, settle)
        reply = tools.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, session=session
        )
    except TimeoutError:
        raise BrowserError("the browser stopped answering (20 s)") from None
    finally:
        tools.close()
    if "exceptionDetails" in reply:
        details = reply["exceptionDetails"]
        raise BrowserError(f"the expression threw: {(details.get('exception') or {}).get('description') or details}")
    return reply["result"].get("value")


def check(
    page: Path, browser: str, timeout: float, settle: float, width: int, screenshot: Path | None, verbose: bool = False
) -> tuple[bool, str]:
    """Open `page` offline; return (every plot rendered and nothing else wrong, one-line summary)."""
    deadline = time.monotonic() + timeout
    tools = DevTools(browser, width, 900, deadline)
    try:
        session, error = open_offline(tools, page)
        if error:
            return False, f"cannot open the page: {error}"
        state, done = wait_rendered(tools, session, settle)
        timed_out = not done

        if screenshot is not None:
            size = tools.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
            clip = {
                "x": 0,
                "y": 0,
                "width": max(1, min(int(size["width"]), 4 * width)),
                "height": max(1, min(int(size["height"]), MAX_SCREENSHOT_HEIGHT)),
                "scale": 1,
            }
            shot = tools.send(
                "Page.captureScreenshot",
                {"format": "png", "captureBeyondViewport": True, "clip": clip},
                session=session,
            )
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
    except TimeoutError:
        raise BrowserError("the browser stopped answering (20 s)") from None
    finally:
        tools.close()

    plots = state["plots"]
    if verbose:
        for p in plots:
            print(f"  {'ok  ' if p['ok'] else 'FAIL'} {p['kind']:5} {p['name']}: {p['why']}")
    rendered = [p for p in plots if p["ok"]]
    vega = sum(p["kind"] == "vega" for p in plots)
    images = len(plots) - vega
    summary = f"{len(rendered)} of {len(plots)} plots rendered offline ({vega} vega, {images} images)"
    problems = []
    if timed_out:
        problems.append(f"the page did not finish loading within {timeout:g} s")
    if not plots:
        problems.append("no plots found (no vega-embed container, no <img>)")
    missing = [p for p in plots if not p["ok"]]
    if missing:
        listed = ", ".join(f"{p['name']} ({p['why']})" for p in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        problems.append(f"not rendered: {listed}{more}")

    def remote(url: str) -> bool:  # file://host/… is a protocol-relative //host/… on a file page
        return not url.startswith(LOCAL_SCHEMES) or re.match(r"file://(?!/|localhost/)", url) is not None

    network = list(
        dict.fromkeys(
            e["params"]["request"]["url"]
            for e in tools.events
            if e["method"] == "Network.requestWillBeSent" and remote(e["params"]["request"]["url"])
        )
    )
    if network:
        problems.append(
            f"tried to load {len(network)} network resource(s), blocked: {network[0][:100]}"
            + (" …" if len(network) > 1 else "")
        )
    errors = []
    for e in tools.events:
        if e["method"] == "Runtime.exceptionThrown":
            d = e["params"]["exceptionDetails"]
            errors.append((d.get("exception") or {}).get("description") or d.get("text", "exception"))
        elif e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in e["params"]["args"]))
    if errors:
        first = " ".join(errors[0].split())[:150]
        problems.append(f"{len(errors)} JavaScript error(s), first: {first}")
    if problems:
        return False, f"{summary}; " + "; ".join(problems)
    return True, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("page", type=Path, help="the HTML file to check")
    parser.add_argument(
        "--screenshot",
        type=Path,
        metavar="PNG",
        help="also save a screenshot (PNG) of the whole page, at most 16384 px tall",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="give up after this many seconds in all (default 60)"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=3.0,
        help="after the page has loaded, stop waiting once nothing changed for this many seconds (default 3)",
    )
    parser.add_argument("--width", type=int, default=1280, help="viewport width in CSS pixels")
    parser.add_argument("--verbose", "-v", action="store_true", help="also list every plot found and what was checked")
    parser.add_argument(
        "--browser", help="the Chromium executable (default: the first on PATH of " + ", ".join(BROWSERS) + ")"
    )
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the browser is killed on the way out
    if not args.page.is_file():
        print(f"error: {args.page}: no such file", file=sys.stderr)
        return 2
    try:
        browser = find_browser(args.browser)
        ok, line = check(
            args.page.resolve(), browser, args.timeout, args.settle, args.width, args.screenshot, args.verbose
        )
    except BrowserError as e:
        print(f"error: {args.page}: {e}", file=sys.stderr)
        return 2
    if ok:
        print(f"{args.page}: {line}")
        return 0
    print(f"error: {args.page}: {line}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
