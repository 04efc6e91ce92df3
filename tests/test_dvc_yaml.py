"""dvc.yaml agrees with the code: paths in one place, the model list written once, params
listed precisely, and every module a stage imports listed as its dependency.

DVC itself resolves dvc.yaml (foreach, vars), so these checks see the stages DVC runs.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml
from dvc.repo import Repo

from mnistflow import paths
from mnistflow.config import SHARED_SECTIONS, MLPSection, load_params

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
MODELS = paths.pipeline_models(ROOT / "dvc.yaml")
PARAMS = load_params(ROOT / "params.yaml")


@pytest.fixture(scope="module")
def stages():
    with Repo(str(ROOT)) as repo:
        return {s.addressing: s for s in repo.index.stages}


@pytest.fixture(scope="module")
def dvc_yaml() -> dict:
    with open(ROOT / "dvc.yaml") as fh:
        return yaml.safe_load(fh)


def outs(stage) -> set[str]:
    return {o.def_path for o in stage.outs}


def params(stage) -> set[str]:
    return {key for p in stage.params for key in p.params}


def deps(stage) -> set[str]:
    return {d.def_path for d in stage.deps if d not in stage.params}


def test_the_model_list_is_written_once_and_matches_the_params_sections(stages, dvc_yaml):
    # One params.yaml section per model, in the same order.
    missing = [m for m in MODELS if m not in PARAMS.models]
    assert not missing, (
        f"dvc.yaml's vars: models lists {missing}, which params.yaml has no section for; add one (README 'Add a model')"
    )
    unlisted = [m for m in PARAMS.models if m not in MODELS]
    assert not unlisted, (
        f"params.yaml has model sections {unlisted} that dvc.yaml's vars: models does not list; add "
        "`<name>: {reads: <name>}` there"
    )
    assert MODELS == list(PARAMS.models), "list the models in the same order in params.yaml and dvc.yaml's vars: models"
    per_model = {f"{kind}@{m}" for kind in ("train", "evaluate", "plot") for m in MODELS}
    assert set(stages) == {"download", "preprocess", "summary", "track", "report", *per_model}
    for name in ("train", "evaluate", "plot"):
        assert dvc_yaml["stages"][name]["foreach"] == "${models}"
    assert stages["summary"].cmd == "python -m stages.summary"  # reads paths.pipeline_models()
    assert stages["track"].cmd == "python -m stages.track"  # so does the track stage


def test_dvc_lock_holds_only_stages_of_dvc_yaml(stages):
    # DVC rewrites the whole of dvc.lock after every stage it runs, so the entries of removed
    # stages (which it never deletes) cost every later stage time: remove them by hand.
    with open(ROOT / "dvc.lock") as fh:
        locked = set(yaml.safe_load(fh)["stages"])
    assert locked == set(stages)


def test_stage_outs_are_the_paths_the_code_writes(stages):
    assert outs(stages["download"]) == {str(paths.RAW_DIR)}
    assert outs(stages["preprocess"]) == {str(paths.PROCESSED_DIR)}
    for model in MODELS:
        assert stages[f"train@{model}"].cmd == f"python -m stages.train {model}"
        answers = {str(paths.test_logits(model)), str(paths.test_info(model)), str(paths.perturbed_logits(model))}
        assert (
            outs(stages[f"train@{model}"])
            == {
                str(p)
                for p in (paths.checkpoint(model), paths.history(model), paths.steps(model), paths.train_metrics(model))
            }
            | answers
        )
        assert outs(stages[f"evaluate@{model}"]) == {
            str(p)
            for p in (paths.eval_metrics(model), paths.confusion(model), paths.per_class(model), paths.roc(model))
        }
        assert outs(stages[f"plot@{model}"]) == {str(paths.images(model))}
        # Evaluate and plot read the saved test answers, not the network.
        for stage in (f"evaluate@{model}", f"plot@{model}"):
            assert answers - {str(paths.perturbed_logits(model))} <= deps(stages[stage]) and str(
                paths.checkpoint(model)
            ) not in deps(stages[stage])
        # Evaluate also scores the answers on the perturbed test split against its labels.
        assert {str(paths.perturbed_logits(model)), str(paths.split_file(paths.PERTURBED))} <= deps(
            stages[f"evaluate@{model}"]
        )
    assert outs(stages["summary"]) == {str(paths.SUMMARY), str(paths.SUMMARY_TABLE), str(paths.SUMMARY_IMAGES)}
    # The summary reads every model's test metrics and test answers through these folders.
    assert {str(paths.METRICS_DIR), str(paths.MODELS_DIR)} <= deps(stages["summary"])
    # The track stage reads every model's checkpoint (its hash finds the run), results and figures.
    assert outs(stages["track"]) == {str(paths.REGISTRY)}  # each model's @champion, for the report
    assert str(paths.REGISTRY) in deps(stages["report"])
    assert {str(paths.METRICS_DIR), str(paths.PLOTS_DIR), str(paths.MODELS_DIR), str(paths.split_file("test"))} <= deps(
        stages["track"]
    )


def test_only_data_and_models_are_cached_and_metrics_are_json(stages):
    for name, stage in stages.items():
        for out in stage.outs:
            # Data, checkpoints, the report page (it inlines every PNG) and the registry record (it
            # describes the MLflow store) go to the DVC cache; metrics and plot data are committed to git.
            cached = out.def_path.startswith(("data/", "models/")) or out.def_path in (
                "reports/index.html",
                str(paths.REGISTRY),
            )
            assert out.use_cache == cached, f"{name}: {out.def_path}"
            if out.metric:
                assert out.def_path.startswith("metrics/") and out.def_path.endswith(".json")


def test_every_stage_but_summary_and_track_keeps_a_run_cache_entry(stages):
    """DVC saves a stage's run in .dvc/cache/runs (and restores it for the same deps and params)
    only when no output is `persist: true` and every `cache: false` output is a metric or a plot.
    track must not be restored from it (its work is in the MLflow store): its one persistent
    output keeps it out; the summary (seconds to rerun) has a plain `cache: false` output."""
    for name, stage in stages.items():
        persistent = {o.def_path for o in stage.outs if o.persist}
        plain_uncached = {o.def_path for o in stage.outs if not o.use_cache and not (o.metric or o.plot)}
        if name == "track":
            assert persistent == {str(paths.REGISTRY)}
        elif name == "summary":
            assert not persistent and plain_uncached == {str(paths.SUMMARY)}
        else:
            assert not persistent and not plain_uncached, name


def test_each_stage_lists_only_params_it_reads(stages):
    sections = {*SHARED_SECTIONS, *PARAMS.models}
    for name, stage in stages.items():
        assert {key.split(".")[0] for key in params(stage)} <= sections, name
    assert params(stages["download"]) == {"download"}
    assert params(stages["preprocess"]) == {"prepare", "perturb"}
    # A learnable activation starts from params.yaml's `init`: its model's dvc.yaml entry reads it.
    learnable = {m for m, s in PARAMS.models.items() if isinstance(s, MLPSection) and s.model.activation != "relu"}
    for model in MODELS:
        reads = {"init"} if model in learnable else set()
        assert params(stages[f"train@{model}"]) == {model, "evaluate", *reads}, (
            f"train@{model} must list exactly its own section, evaluate (the per-epoch scoring)"
            + (" and init: set `reads: init` in dvc.yaml's vars: models entry" if reads else "")
        )
    assert all(params(stages[f"evaluate@{model}"]) == set() for model in MODELS)  # it reads the saved answers
    # -S init.k1=... reruns the learnable models' training and what reads its outputs, nothing else.
    readers_of_init = {name for name, stage in stages.items() if "init" in params(stage)}
    assert readers_of_init == {f"train@{m}" for m in learnable}


# --- deps: every module a stage's command imports -------------------------------------------------


def _module_file(module: str) -> Path | None:
    """The file of a module of this project (``stages.*`` or ``mnistflow.*``), else None."""
    root = ROOT if module.split(".")[0] == "stages" else SRC if module.split(".")[0] == "mnistflow" else None
    if root is None:
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(file: Path) -> set[str]:
    """Every module an import statement in ``file`` names, at any depth (lazy imports inside
    functions count: the stage may run them), with the parent packages Python imports first."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # submodules imported by name
    return {".".join(name.split(".")[: i + 1]) for name in names for i in range(len(name.split(".")))}


def _only_a_docstring(file: Path) -> bool:
    body = ast.parse(file.read_text(encoding="utf-8")).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def import_closure(module: str) -> set[Path]:
    """The project files that ``python -m <module>`` can import, transitively."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        file = _module_file(todo.pop())
        if file is None or file in seen:
            continue
        seen.add(file)
        todo.extend(_imports(file))
    return seen


def covered(file: Path, stage_deps: set[str]) -> bool:
    rel = file.relative_to(ROOT).as_posix()
    return any(rel == dep or rel.startswith(dep.rstrip("/") + "/") for dep in stage_deps)


def test_every_module_a_stage_imports_is_a_dependency(stages):
    for name, stage in stages.items():
        module = stage.cmd.split()[2]  # python -m stages.<module> ...
        closure = import_closure(module)
        assert ROOT / f"{module.replace('.', '/')}.py" in closure
        # stages/__init__.py (the error printer) and packages whose __init__ is only a
        # docstring cannot change a result.
        missing = sorted(
            f.relative_to(ROOT).as_posix()
            for f in closure
            if not covered(f, deps(stage))
            and f != ROOT / "stages" / "__init__.py"
            and not (f.name == "__init__.py" and _only_a_docstring(f))
        )
        assert not missing, f"{name} imports {missing}, which its deps in dvc.yaml do not list"


def test_stages_list_no_code_they_do_not_import(stages):
    for name, stage in stages.items():
        closure = import_closure(stage.cmd.split()[2])
        code_deps = {d for d in deps(stage) if d.startswith(("src/", "stages/"))}
        for dep in code_deps:
            assert any(covered(f, {dep}) for f in closure), f"{name}: lists {dep}, which it does not import"


def test_the_closure_sees_lazy_imports():
    closure = {f.relative_to(ROOT).as_posix() for f in import_closure("stages.train")}
    assert "src/mnistflow/data/augment.py" in closure and "src/mnistflow/scratch/engine.py" in closure
    assert "src/mnistflow/plotting.py" not in closure  # training does not draw
    evaluate = {f.relative_to(ROOT).as_posix() for f in import_closure("stages.evaluate")}
    assert "src/mnistflow/training.py" not in evaluate and "src/mnistflow/workflow/train.py" not in evaluate
    # Neither evaluate nor plot nor summary imports torch's code or MLflow (the tracking package).
    for stage in ("stages.evaluate", "stages.plot", "stages.summary"):
        closure = {f.relative_to(ROOT).as_posix() for f in import_closure(stage)}
        heavy = {"src/mnistflow/inference.py", "src/mnistflow/checkpoint.py", "src/mnistflow/models/__init__.py"}
        assert not closure & heavy and not any(f.startswith("src/mnistflow/tracking/") for f in closure), stage


def test_each_stage_depends_on_existing_files(stages):
    declared = set().union(*(outs(s) for s in stages.values()))  # another stage's output, maybe not made yet
    for name, stage in stages.items():
        for dep in deps(stage):
            assert (
                (ROOT / dep).exists() or dep.startswith(("data/", "models/", "plots/", "metrics/")) or dep in declared
            ), f"{name}: {dep} does not exist"


# --- plots ------------------------------------------------------------------------------------------


def test_cross_model_plots_name_exactly_the_models(stages, dvc_yaml):
    declared = set().union(*(outs(s) for s in stages.values()))
    # A binary model's curves get charts of their own, not the digit models' axes.
    binary = [m for m in MODELS if getattr(PARAMS.models[m], "positive", None)]
    kinds = {"every digit model": [m for m in MODELS if m not in binary], "every binary model": binary}
    lacking = []  # every chart that misses a model, named at once: a new model needs them all
    for plot in dvc_yaml["plots"]:
        ((title, spec),) = plot.items()
        files = list(spec["y"])
        for kind, models in kinds.items():
            if kind not in title:
                continue
            name = Path(files[0]).name
            missing = [f"plots/{m}/{name}" for m in models if f"plots/{m}/{name}" not in files]
            if missing:
                lacking.append(f"dvc.yaml's top-level plot {title!r} lacks {', '.join(missing)}")
            elif [f.split("/")[1] for f in files] != models:
                lacking.append(f"{title}: list the {kind}s in vars: models order")
        for data_file in files:
            assert data_file in declared, f"{title}: {data_file} is no stage's output"
            data = ROOT / data_file
            columns = spec["y"][data_file]
            if data_file.endswith(".csv") and data.exists():
                header = data.read_text().splitlines()[0].split(",")
                for column in [columns] if isinstance(columns, str) else columns:
                    assert column in header, f"{title}: {data_file} has no column {column}"
                assert spec["x"] in header, f"{title}: {data_file} has no column {spec['x']}"
    assert not lacking, "; ".join(lacking) + "; add a line for each missing file under its chart's y"


def test_params_yaml_is_valid_and_lists_are_block_style():
    load_params(ROOT / "params.yaml")
    code = [line.split("#")[0] for line in (ROOT / "params.yaml").read_text().splitlines()]
    assert not [line for line in code if "[" in line], "dvc exp run -S rewrites inline lists; write them in block style"


def test_every_plot_template_is_one_of_the_projects(dvc_yaml):
    """Each chart names a template of .dvc/plots/ (not one of DVC's own), and DVC's built-in names,
    which older commits' dvc.yaml use, hold one of them (linked there), so old charts draw the same way."""
    templates = ROOT / ".dvc" / "plots"
    named = {spec.get("template") for plot in dvc_yaml["plots"] for spec in plot.values()}
    for stage in dvc_yaml["stages"].values():
        for entry in stage.get("do", stage).get("plots", []):
            if isinstance(entry, dict):
                named |= {props.get("template") for props in entry.values() if isinstance(props, dict)}
    named.discard(None)
    assert named, "no chart names a template"
    ours = {name: (templates / f"{name}.json").read_text(encoding="utf-8") for name in sorted(named)}
    for name, text in ours.items():
        assert "<DVC_METRIC_DATA>" in json.dumps(json.loads(text)), f"{name}: no <DVC_METRIC_DATA> anchor"
    for builtin in ("linear", "simple", "confusion", "bar_horizontal"):  # older commits' dvc.yaml names these
        assert (templates / f"{builtin}.json").read_text(encoding="utf-8") in ours.values(), builtin
