"""Offline plots: `dvc plots show` / `dvc plots diff` pages that render with no network.

A small DVC repo made here (two commits and a changed workspace; a linear, a confusion and an
image plot in dvc.yaml's top-level `plots:`) takes the project's .dvc/config and
dvc_plots_template/offline.html. The pages DVC writes must load nothing from the network, and,
where Chromium is installed, scripts/check_html.py must find every plot rendered in a browser
with networking blocked (and must fail DVC's stock CDN page, and a broken image).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from conftest import BROWSER, DVC, ROOT

CHECK_HTML = ROOT / "scripts" / "check_html.py"
TEMPLATE = ROOT / "dvc_plots_template" / "offline.html"
needs_browser = pytest.mark.skipif(
    BROWSER is None,
    reason="no Chromium on PATH or in /usr/lib/chromium, so the in-browser rendering check is skipped "
    "(apt-get install -y --no-install-recommends chromium; .ci/run installs it as root)",
)

# A reference to anything remote in an element that loads it.
REMOTE_LOAD = re.compile(
    r"<(?:script|link|img|iframe|embed|object|source)\b[^>]*?\b(?:src|href|data)\s*=\s*"
    r"[\"']?\s*(?:https?:)?//",
    re.I,
)

DVC_YAML = """\
plots:
  - loss per epoch:
      template: linear
      x: epoch
      y:
        plots/history.csv:
          - loss
          - val_loss
  - plots/confusion.csv:
      template: confusion
      x: actual
      y: predicted
  - plots/digit.png
"""


def png(width: int, height: int, shade: int) -> bytes:
    """A small valid RGB PNG: a diagonal gradient."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(
        b"\0" + b"".join(bytes((shade, (x * 255) // width, (y * 255) // height)) for x in range(width))
        for y in range(height)
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def write_plots(repo: Path, epochs: int, shift: int) -> None:
    plots = repo / "plots"
    plots.mkdir(exist_ok=True)
    rows = ["epoch,loss,val_loss"] + [f"{e},{2.0 / (e + 1):.4f},{2.2 / (e + 1) + 0.05:.4f}" for e in range(epochs)]
    (plots / "history.csv").write_text("\n".join(rows) + "\n")
    # Confusion pairs as CSV, one row per image, as the evaluate stage writes them.
    pairs = [f"{i % 3},{(i + (i % 5 == shift)) % 3}" for i in range(60)]
    (plots / "confusion.csv").write_text("actual,predicted\n" + "\n".join(pairs) + "\n")
    (plots / "digit.png").write_bytes(png(40, 30, 40 * shift))


def run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def check_html(page: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CHECK_HTML), str(page), "--timeout", "40", "--browser", str(BROWSER), *extra],
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """A DVC repo with the project's offline template; the pages of `plots show` and `plots diff`."""
    repo = tmp_path_factory.mktemp("offline_plots")
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    run(["git", "init", "-q"], repo, env)
    run([DVC, "init", "-q"], repo, env)
    # The project's own config (plots.html_template is relative to .dvc/) and template.
    shutil.copy(ROOT / ".dvc" / "config", repo / ".dvc" / "config")
    (repo / "dvc_plots_template").mkdir()
    shutil.copy(TEMPLATE, repo / "dvc_plots_template" / "offline.html")
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / ".gitignore").write_text("/dvc_plots*/\n")
    for commit, (epochs, shift) in enumerate([(4, 0), (6, 1)]):
        write_plots(repo, epochs, shift)
        run(["git", "add", "-A"], repo, env)
        run(["git", "-c", "commit.gpgsign=false", "commit", "-q", "-m", f"plots {commit}"], repo, env)
    write_plots(repo, 8, 2)  # the workspace differs from both commits

    out = {}
    run([DVC, "plots", "show"], repo, env)
    out["show"] = repo / "dvc_plots" / "index.html"
    run([DVC, "plots", "diff", "HEAD~1", "-o", "dvc_plots_diff"], repo, env)
    out["diff"] = repo / "dvc_plots_diff" / "index.html"
    # --html-template still overrides the config: DVC's stock page (scripts from a CDN) ...
    from dvc_render.html import PAGE_HTML

    (repo / "cdn.html").write_text(PAGE_HTML)
    run([DVC, "plots", "show", "--html-template", "cdn.html", "-o", "dvc_plots_cdn"], repo, env)
    out["cdn"] = repo / "dvc_plots_cdn" / "index.html"
    # ... and a path given on the command line is taken from the working directory.
    (repo / "sub").mkdir()
    run(
        [DVC, "plots", "show", "--html-template", "../dvc_plots_template/offline.html", "-o", "../dvc_plots_cli"],
        repo / "sub",
        env,
    )
    out["cli"] = repo / "dvc_plots_cli" / "index.html"
    return out


@pytest.mark.parametrize("which", ["show", "diff", "cli"])
def test_pages_load_nothing_from_the_network(pages, which):
    html = pages[which].read_text(encoding="utf8")
    assert not REMOTE_LOAD.search(html), REMOTE_LOAD.search(html).group(0)
    assert "cdn.jsdelivr.net" not in html
    for lib in ("vega 5.33.1", "vega-lite 5.23.0", "vega-embed 6.29.0"):
        assert f"/* {lib} from npm" in html  # the inlined builds of dvc_plots_template/
    assert "{plot_divs}" not in html and "{refresh_tag}" not in html
    assert html.count("vegaEmbed('#") == 2  # the linear and the confusion plot
    assert html.count('<meta charset="utf-8">') == 1


def test_html_template_option_still_overrides_config(pages):
    html = pages["cdn"].read_text(encoding="utf8")
    assert REMOTE_LOAD.search(html) and "/* vega 5.33.1 from npm" not in html


@needs_browser
@pytest.mark.parametrize("which,plots", [("show", 3), ("diff", 4)])
def test_every_plot_renders_offline(pages, which, plots, tmp_path):
    shot = tmp_path / "page.png"
    result = check_html(pages[which], "--screenshot", str(shot))
    assert result.returncode == 0, result.stderr
    # 2 vega charts; one image per revision (diff: HEAD~1 and the workspace).
    assert (
        result.stdout.strip()
        == f"{pages[which]}: {plots} of {plots} plots rendered offline (2 vega, {plots - 2} images)"
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


@needs_browser
def test_checker_fails_the_cdn_page(pages):
    result = check_html(pages["cdn"])
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line
    assert "1 of 3 plots rendered offline" in line  # only the image: the charts need the CDN
    assert "tried to load 3 network resource(s), blocked: https://cdn.jsdelivr.net/npm/vega" in line
    assert "vegaEmbed is not defined" in line


@needs_browser
def test_checker_on_any_page_images_and_svg(tmp_path):
    """Any self-contained page: an SVG-rendered chart, a good and a broken data: image."""
    # The three libraries only: not the template's script that keeps the views (any page has none).
    scripts = re.findall(r"<script>/\* vega.*?</script>", TEMPLATE.read_text(encoding="utf8"), re.S)
    assert len(scripts) == 3
    good = "data:image/png;base64," + __import__("base64").b64encode(png(20, 10, 200)).decode()
    spec = {
        "data": {"values": [{"x": 1, "y": 2}, {"x": 2, "y": 3}]},
        "mark": "line",
        "encoding": {"x": {"field": "x", "type": "quantitative"}, "y": {"field": "y", "type": "quantitative"}},
    }
    page = tmp_path / "report.html"
    body = (
        f'<div id="chart"></div><script>vegaEmbed("#chart", {json.dumps(spec)}, {{renderer: "svg"}});</script>'
        f'<img alt="good" src="{good}"><img alt="broken" src="data:image/png;base64,iVBORw0KGgoAAAAN">'
    )
    page.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8">{"".join(scripts)}</head><body>{body}</body></html>',
        encoding="utf8",
    )
    result = check_html(page, "--settle", "1", "-v")
    assert result.returncode == 1, result.stdout
    assert "ok   vega  chart: svg" in result.stdout and "ok   image good" in result.stdout
    assert "2 of 3 plots rendered offline (1 vega, 2 images); not rendered: broken, data:image/png" in result.stderr

    page.write_text(page.read_text().replace('<img alt="broken" src="data:image/png;base64,iVBORw0KGgoAAAAN">', ""))
    result = check_html(page)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{page}: 2 of 2 plots rendered offline (1 vega, 1 images)"
