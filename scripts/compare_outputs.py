"""Hash every output of a cheap but complete `dvc repro` of one commit, or compare two such hash files.

    python scripts/compare_outputs.py run COMMIT HASHES.json [--keep DIR] [--set KEY=VALUE ...]
    python scripts/compare_outputs.py diff A.json B.json

`run` clones COMMIT of this repository into a temporary folder, makes every model cheap in the
copy's params.yaml (a stratified subset of the real MNIST, one epoch each; every stage and every
model still runs), runs `dvc repro -f` there on $MNIST_MIRROR with its own MLflow store, and
writes the SHA-256 of each file under data/processed, models, metrics, plots and reports.
`--set ann.model.activation=rational` changes one more param (a dotted key, a YAML value) in the
copy, e.g. to take another activation family through every stage.
`diff` lists the files whose hashes differ (exit status 1 when any does): a refactor that claims
byte-identical outputs is checked by running `run` on the commit before it and on the one after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
OUTPUTS = ("data/processed", "models", "metrics", "plots", "reports")
# Cheap settings written into the copy's params.yaml: small enough to run in minutes on one
# core, large enough that every model learns something and every stage runs.
TRAIN_SUBSET = 3000
EPOCHS = 1


def cheapen(params_file: Path, settings: list[str]) -> None:
    import yaml as pyyaml
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    params = yaml.load(params_file)
    params["prepare"]["train_subset"] = TRAIN_SUBSET
    for section in params.values():
        if isinstance(section, dict) and "train" in section and "epochs" in section["train"]:
            section["train"]["epochs"] = EPOCHS
    for setting in settings:
        key, _, value = setting.partition("=")
        *parents, leaf = key.split(".")
        node = params
        for parent in parents:
            node = node[parent]
        node[leaf] = pyyaml.safe_load(value)
    yaml.dump(params, params_file)


def hashes(repo: Path) -> dict[str, str]:
    found = {}
    for top in OUTPUTS:
        for path in sorted((repo / top).rglob("*")):
            if path.is_file():
                found[path.relative_to(repo).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def run(commit: str, out: Path, keep: Path | None, settings: list[str]) -> None:
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="compare-outputs-"))
    repo = work / "project"
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(ROOT), str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", commit], check=True)
    cheapen(repo / "params.yaml", settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "MLFLOW_", "GIT_"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(repo / "src"),  # the copy's package, not the editable install's
        MNIST_MIRROR=env.get("MNIST_MIRROR", "/work/shared/mnist"),
        MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlflow.db'}",
        MLFLOW_DISABLE_TELEMETRY="true",
        DVC_NO_ANALYTICS="1",
    )
    env.setdefault("MNISTFLOW_THREADS", "1")
    log = work / "repro.log"
    with log.open("w") as handle:
        status = subprocess.run(
            [str(VENV_BIN / "dvc"), "repro", "-f"], cwd=repo, env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    if status.returncode != 0:
        sys.exit(f"dvc repro failed in {repo} (exit {status.returncode}); its output: {log}")
    out.write_text(json.dumps({"commit": commit, "files": hashes(repo)}, indent=1) + "\n")
    print(f"{len(hashes(repo))} files hashed into {out} (project kept in {repo})")


def diff(a: Path, b: Path) -> int:
    left, right = (json.loads(p.read_text())["files"] for p in (a, b))
    differ = 0
    for name in sorted(left.keys() | right.keys()):
        if left.get(name) != right.get(name):
            differ += 1
            state = "only in " + str(a) if name not in right else "only in " + str(b) if name not in left else "differs"
            print(f"{state}: {name}")
    same = len(left.keys() | right.keys()) - differ
    print(f"{same} files identical, {differ} differ or exist on one side only")
    return 1 if differ else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_cmd = sub.add_parser("run")
    run_cmd.add_argument("commit")
    run_cmd.add_argument("out", type=Path)
    run_cmd.add_argument("--keep", type=Path, help="work in this (new) folder and leave it there")
    run_cmd.add_argument("--set", action="append", default=[], help="KEY=VALUE: one more param for the copy")
    diff_cmd = sub.add_parser("diff")
    diff_cmd.add_argument("a", type=Path)
    diff_cmd.add_argument("b", type=Path)
    args = parser.parse_args()
    if args.command == "run":
        run(args.commit, args.out, args.keep, args.set)
    else:
        sys.exit(diff(args.a, args.b))


if __name__ == "__main__":
    main()
