"""An experiment's diff is its change: `dvc exp run -S` rewrites params.yaml in its own layout
(ruamel.yaml's defaults), which params.yaml is written in, so setting one value changes that
line and nothing else (no comment dropped, no list re-indented, no long value re-wrapped)."""

from __future__ import annotations

import shutil

import yaml

from conftest import DVC, ROOT, base_env, git, init_repo, run

# One stage that reads `init` and does nothing: `dvc exp run` needs a target, and this is the
# cheapest, so the test times DVC's rewrite, not a training.
DVC_YAML = """\
stages:
  noop:
    cmd: python -c pass
    params:
      - init
"""


def changed_lines(repo) -> list[str]:
    diff = git(repo, "diff", "--unified=0", "params.yaml")
    return [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_set_param_changes_only_the_values_line(tmp_path):
    repo = tmp_path
    shutil.copy(ROOT / "params.yaml", repo / "params.yaml")
    (repo / "dvc.yaml").write_text(DVC_YAML, encoding="utf-8")
    init_repo(repo)
    env = base_env()
    run([DVC, "init", "-q"], repo, env)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "params")
    k1 = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["init"]["k1"]
    other = 0.5 if k1 != 0.5 else 0.25

    run([DVC, "exp", "run", "-S", f"init.k1={other}", "noop"], repo, env)
    assert changed_lines(repo) == [f"-  k1: {k1}", f"+  k1: {other}"]

    # Setting it back leaves the file as committed: every comment and line break kept.
    run([DVC, "exp", "run", "-S", f"init.k1={k1}", "noop"], repo, env)
    assert changed_lines(repo) == []
    assert (repo / "params.yaml").read_bytes() == (ROOT / "params.yaml").read_bytes()
