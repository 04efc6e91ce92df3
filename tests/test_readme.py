"""README's numbers against the committed files: the results table is exactly what
scripts/results_table.py prints, every other figure it quotes comes from the committed metrics
or pins, it quotes no timings (those are in docs/speed.md), and its links resolve.

After a run that changes the metrics, refresh the table with
`python scripts/results_table.py` and paste it between the markers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from contextlib import chdir
from pathlib import Path

from mnistflow import predict

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN = "<!-- results-table: begin (python scripts/results_table.py) -->\n"
END = "<!-- results-table: end -->\n"


def readme() -> str:
    return README.read_text(encoding="utf-8")


def script_output(script: str, *args: str) -> str:
    """What ``scripts/<script>`` prints for the committed files."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *args], capture_output=True, text=True, timeout=60, check=True
    )
    return proc.stdout


def committed_table() -> str:
    return script_output("results_table.py", "--root", str(ROOT))


def test_results_table_is_what_the_script_prints():
    text = readme()
    assert text.count(BEGIN) == 1 and text.count(END) == 1, "README needs one pair of results-table markers"
    table = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert table == committed_table(), (
        "README's results table is stale: paste `python scripts/results_table.py` between the markers"
    )


SEEDS_BEGIN = "<!-- seeds-table: begin (python scripts/seeds.py --from docs/seeds-margin.json) -->\n"
SEEDS_END = "<!-- seeds-table: end -->\n"


def seeds_table() -> str:
    return script_output("seeds.py", "--from", str(ROOT / "docs/seeds-margin.json"))


def test_seeds_table_is_what_the_script_prints():
    text = readme()
    assert text.count(SEEDS_BEGIN) == 1 and text.count(SEEDS_END) == 1, "README needs one pair of seeds-table markers"
    assert text.split(SEEDS_BEGIN, 1)[1].split(SEEDS_END, 1)[0] == seeds_table(), (
        "README's seeds table is stale: paste `python scripts/seeds.py --from docs/seeds-margin.json` "
        "between the markers"
    )


def test_every_percentage_is_from_the_committed_results():
    """Two-decimal percentages anywhere in README are results-table cells, except the predict
    example's first line: the committed digit model best on validation, with its validation
    accuracy (what `mnistflow predict` chooses by); its threshold is the committed square model's."""
    text = readme()
    with chdir(ROOT):
        best, val_acc = predict.best_model(predict.validation_accuracies())
    chosen = (
        f"digit: {best} (models/{best}.pt; the best validation accuracy: {val_acc:.2%} in metrics/{best}-train.json)"
    )
    assert chosen in text
    table = committed_table() + seeds_table()
    for figure in set(re.findall(r"\d+\.\d\d%", text.replace(chosen, ""))):
        assert figure in table, f"README quotes {figure}, which is not in the committed results"
    threshold = json.loads((ROOT / "metrics/square.json").read_text(encoding="utf-8"))["threshold"]
    quoted = re.findall(r"yes at P >= (\d\.\d\d)", text)
    assert quoted and all(q == f"{threshold:.2f}" for q in quoted)


def test_readme_names_the_machine_docs_name():
    """README and docs/reproducibility.md agree on the CPU that made the committed results."""
    machine = re.compile(r"(AMD EPYC|Intel Xeon)")
    in_readme = machine.findall(readme().split("The run was made on", 1)[1].split(".", 1)[0])
    notes = (ROOT / "docs/reproducibility.md").read_text(encoding="utf-8")
    in_docs = machine.findall(notes.split("The committed results (README's results table) were made on", 1)[1][:80])
    assert in_readme and in_readme == in_docs, f"README names {in_readme}, docs/reproducibility.md {in_docs}"


def test_pins_and_python_match_the_project():
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.txt").read_text(encoding="utf-8"), re.M))
    quoted = re.findall(r"([A-Za-z0-9_.-]+)(?:\[\w+\])?==([0-9][\w.]*)", readme())
    assert quoted
    for name, version in quoted:
        assert pins.get(name) == version, f"README pins {name}=={version}; requirements.txt has {pins.get(name)}"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert f"Python {requires.removeprefix('>=')} or newer" in readme()


def test_no_timings_and_short():
    text = readme()
    timings = re.findall(r"\b\d+(?:[.,]\d+)?(?:–\d+(?:\.\d+)?)?\s*(?:s|ms|min|minutes?|seconds?|hours?)\b", text)
    assert not timings, f"README quotes timings {timings}: they belong in docs/speed.md"
    assert len(text.splitlines()) <= 300


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for a markdown file's headings."""
    headings = re.findall(r"^#+ (.*)$", path.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_links_resolve():
    """README's links, and the links of the docs/ notes, name files and headings that exist."""
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            path = (page.parent / target).resolve() if target else page
            assert path.exists(), f"{page.name}: {target}"
            if anchor:
                assert anchor in anchors(path), f"{page.name}: {target}#{anchor}"
