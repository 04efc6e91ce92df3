#!/usr/bin/env python3
"""The picture in README's "Experiments": `dvc plots diff` between two experiments, as a PNG.

    python scripts/plots_diff_screenshot.py                      # docs/plots-diff.png
    python scripts/plots_diff_screenshot.py --subset 5000 --epochs 3 --out /tmp/diff.png

Clones the committed project (HEAD) into a temporary folder and runs there, on real MNIST (the
first of $MNIST_MIRROR, ../shared/mnist or the mirrors in params.yaml that answers), two
experiments of a small run (every model trained for --epochs on --subset training images;
`-S prepare.train_subset=N -S <model>.train.epochs=E`): `baseline`, and `k1-0.5`, which also
sets `-S init.k1=0.5`. Then `dvc plots diff baseline k1-0.5`, opened in headless Chromium with
no network (scripts/check_html.py), and a screenshot of the charts named by --charts, laid out
two to a row. The temporary folder is removed unless --keep is given. Only the models' own
numbers change between runs: the charts and what they compare are those of README.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("ann", "mlp", "lenet5", "deepcnn", "square")
CHARTS = (
    "test_error_per_epoch__every_digit_model",
    "plots_summary_models_csv",
    "plots_ann_confusion_csv",
    "plots_ann_per_class_csv",
)
EXPERIMENTS = {"baseline": [], "k1-0.5": ["-S", "init.k1=0.5"]}

_spec = importlib.util.spec_from_file_location("check_html", ROOT / "scripts" / "check_html.py")
check_html = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_html)

# Keep only the chosen charts (DVC's page gives each a <div id=...>), two to a row.
LAYOUT_JS = """
((keep) => {
  for (const div of document.querySelectorAll("body > div")) {
    if (!keep.includes(div.id)) div.style.display = "none";
  }
  document.body.style.cssText = "display: grid; grid-template-columns: max-content max-content; gap: 8px; margin: 8px;";
  for (const id of keep) {
    const div = document.getElementById(id);
    if (!div) throw new Error("no chart " + id + " on the page");
    div.style.order = keep.indexOf(id);
  }
  return document.body.scrollHeight;
})
"""


def sh(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    print("$", " ".join(args), flush=True)
    proc = subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}")


def screenshot(page: Path, charts: list[str], out: Path, browser: str | None) -> None:
    tools = check_html.DevTools(check_html.find_browser(browser), 1400, 900, time.monotonic() + 120)
    try:
        session, error = check_html.open_offline(tools, page)
        if error:
            sys.exit(f"error: cannot open {page}: {error}")
        state, _ = check_html.wait_rendered(tools, session, settle=3.0)
        missing = [p["name"] for p in state["plots"] if p["kind"] == "vega" and p["name"] in charts and not p["ok"]]
        if missing:
            sys.exit(f"error: not rendered: {', '.join(missing)}")
        reply = tools.send(
            "Runtime.evaluate",
            {"expression": f"{LAYOUT_JS}({list(charts)!r})", "returnByValue": True},
            session=session,
        )
        if "exceptionDetails" in reply:
            sys.exit(f"error: {reply['exceptionDetails'].get('exception', {}).get('description')}")
        height = int(reply["result"]["value"]) + 16
        width = int(tools.send("Page.getLayoutMetrics", session=session)["cssContentSize"]["width"])
        tools.pump(0.5)
        shot = tools.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
            session=session,
        )
    finally:
        tools.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(shot["data"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "plots-diff.png", help="the PNG to write")
    parser.add_argument("--subset", type=int, default=5000, help="training images of the small run (default 5000)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of every model (default 3)")
    parser.add_argument("--charts", nargs="+", default=list(CHARTS), help="ids of the page's charts to keep")
    parser.add_argument("--browser", help="the Chromium executable (default: found on PATH)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone and print where it is")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="plots-diff-"))
    try:
        repo = work / "project"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "MLFLOW_", "GIT_"))}
        env["DVC_NO_ANALYTICS"] = "1"
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
        if "MNIST_MIRROR" not in env and (ROOT.parent / "shared" / "mnist").is_dir():
            env["MNIST_MIRROR"] = str(ROOT.parent / "shared" / "mnist")  # the clone's ../shared is elsewhere
        sh(["git", "clone", "--quiet", str(ROOT), str(repo)], work, env)
        sh(["git", "config", "user.email", "plots@example.invalid"], repo, env)
        sh(["git", "config", "user.name", "plots"], repo, env)
        small = ["-S", f"prepare.train_subset={args.subset}"]
        for model in MODELS:
            small += ["-S", f"{model}.train.epochs={args.epochs}"]
        dvc = str(Path(sys.executable).parent / "dvc")
        for name, extra in EXPERIMENTS.items():
            sh([dvc, "exp", "run", "-n", name, *small, *extra, "summary"], repo, env)
        sh([dvc, "plots", "diff", *EXPERIMENTS, "-o", "diff"], repo, env)
        screenshot(repo / "diff" / "index.html", args.charts, args.out, args.browser)
        print(f"wrote {args.out}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
