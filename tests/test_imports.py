"""The import graph of src/ and stages/, read with ``ast`` (nothing is imported), and the
dependencies it implies against the ones declared.

- No import circle between the package's modules, counting imports inside functions (a circle
  hidden in a function still means two modules that cannot be read apart).
- No module uses another module's ``_private`` name.
- Only ``mnistflow.tracking`` imports MLflow.
- The single-process training path does not load the distributed (torchrun) code.
- Every third-party module imported at run time is declared in requirements.txt (which
  pyproject.toml reads), and every declared distribution is imported.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = "mnistflow"


def module_name(path: Path) -> str:
    """``src/mnistflow/tracking/store.py`` -> ``mnistflow.tracking.store``; ``stages/train.py`` -> ``stages.train``."""
    base = SRC if path.is_relative_to(SRC) else ROOT
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    """Every module of the package and of stages/, by dotted name."""
    files = [*(SRC / PACKAGE).rglob("*.py"), *(ROOT / "stages").glob("*.py")]
    return {module_name(path): path for path in sorted(files)}


MODULES = sources()


def imports(path: Path, top_level_only: bool = False) -> Iterator[tuple[str, list[str], ast.AST]]:
    """(imported module, the names taken from it, the node) for each import in ``path``;
    relative imports resolved. ``top_level_only``: only those run when the module is imported
    (not those inside functions or classes' methods)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if top_level_only and isinstance(node, (ast.If, ast.Try)):  # `if TYPE_CHECKING`, try/except ImportError
            nodes_inside = [n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))]
        else:
            nodes_inside = [node]
        for inner in nodes_inside:
            if isinstance(inner, ast.Import):
                for alias in inner.names:
                    yield alias.name, [], inner
            elif isinstance(inner, ast.ImportFrom):
                if inner.level:
                    base = package.split(".")[: len(package.split(".")) - inner.level + 1]
                    target = ".".join([*base, inner.module] if inner.module else base)
                else:
                    target = inner.module or ""
                yield target, [alias.name for alias in inner.names], inner


def internal_targets(target: str, names: list[str]) -> list[str]:
    """The project modules an import loads: ``from mnistflow import paths`` loads
    ``mnistflow.paths``; ``from mnistflow.tracking import store_errors`` loads ``mnistflow.tracking``."""
    found = [f"{target}.{name}" for name in names if f"{target}.{name}" in MODULES]
    if target in MODULES and len(found) < len(names) or not names:
        found.append(target)
    return [module for module in found if module in MODULES]


def graph(top_level_only: bool = False) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, names, _ in imports(path, top_level_only):
            edges[name].update(m for m in internal_targets(target, names) if m != name)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports (its modules in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_is_read():
    """The reader itself: the modules and edges every other assertion relies on are found."""
    edges = graph()
    assert {"mnistflow.tracking.store", "mnistflow.predict.classifiers", "stages.train"} <= set(edges)
    assert "mnistflow.tracking.store" in edges["mnistflow.tracking.models"]
    assert "mnistflow.tracking.models" in edges["mnistflow.tracking.runs"]
    assert "mnistflow.tracking" in edges["mnistflow.predict.classifiers"]  # inside a function
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle():
    cycle = find_cycle(graph())
    assert cycle is None, f"import circle: {' -> '.join(cycle)}; move what both need into a module of its own"


def test_no_private_name_crosses_a_module():
    """``from mnistflow.x import _name`` or ``x._name`` on an imported project module: a name
    another module relies on is public (no leading underscore), so it can be found and kept."""
    offences = []
    for name, path in MODULES.items():
        aliases: dict[str, str] = {}  # local name -> project module it is bound to
        for target, names, node in imports(path):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if f"{target}.{alias.name}" in MODULES:
                        aliases[alias.asname or alias.name] = f"{target}.{alias.name}"
                    elif alias.name.startswith("_") and not alias.name.startswith("__") and target in MODULES:
                        offences.append(f"{name} imports {target}.{alias.name}")
            else:
                for alias in node.names:
                    if alias.name in MODULES and alias.asname:
                        aliases[alias.asname] = alias.name
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                offences.append(f"{name} uses {aliases[node.value.id]}.{node.attr}")
    assert not offences, f"private names used across modules: {sorted(set(offences))}; make them public"


def loaded_at_import(start: str) -> set[str]:
    """The project modules importing ``start`` loads (top-level imports, followed)."""
    edges = graph(top_level_only=True)
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(edges[module])
    return seen


def test_only_tracking_imports_mlflow():
    """MLflow is imported by ``mnistflow.tracking`` alone (its package docstring says so): every
    other module reaches the store through it, so a command that logs nothing never pays for it."""
    outside = sorted(
        name
        for name, path in MODULES.items()
        if not name.startswith("mnistflow.tracking")
        for target, _, _ in imports(path)
        if target.split(".")[0] == "mlflow"
    )
    assert not outside, f"{outside} import mlflow: go through mnistflow.tracking instead"


def test_single_process_training_does_not_load_distributed_code():
    for start in ("mnistflow.training", "mnistflow.workflow.train"):
        assert "mnistflow.distributed" not in loaded_at_import(start), (
            f"importing {start} loads mnistflow.distributed: single-process training should call the loop "
            "directly, with torchrun's wrapper imported only where it is used"
        )


# --- dependencies: declared = imported --------------------------------------------------------------

# Distributions pip installs beside what the code imports, that are declared for a reason other
# than an import of ours (requirements.txt's comments give each reason).
DECLARED_NOT_IMPORTED = {
    "dvc",  # the pipeline's command line; the stages run under it
    "ruamel.yaml.clib",  # the C parser DVC reads YAML with (an optional extra of ruamel.yaml)
}


def declared(path: Path) -> dict[str, str]:
    """Canonical distribution name -> pinned version, from a requirements file (``-r`` followed)."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins.update(declared(path.parent / line[3:].strip()))
        elif match := re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[\w,]+\])?==(\S+)", line):
            pins[canonical(match.group(1))] = match.group(2)
    return pins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports() -> dict[str, set[str]]:
    """Top-level import name -> the project modules importing it (at any depth: a function's
    import runs too), for every module that is neither the standard library's nor ours."""
    found: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        for target, _, node in imports(path):
            top = target.split(".")[0]
            if isinstance(node, ast.ImportFrom) and node.level or not top:
                continue
            if top in sys.stdlib_module_names or top in (PACKAGE, "stages", "__future__"):
                continue
            found.setdefault(top, set()).add(name)
    return found


@cache
def installed_distributions() -> dict[str, list[str]]:
    return packages_distributions()


def distributions_of(module: str) -> set[str]:
    """The distributions that install import name ``module`` (``PIL`` -> pillow, ``yaml`` ->
    pyyaml, ``sklearn`` -> scikit-learn, ``fastapi`` -> fastapi; ``mlflow`` -> mlflow and the
    parts it is split into), from the installed packages' metadata."""
    names = installed_distributions().get(module)
    assert names, f"{module} is imported but not installed: declare it in requirements.txt and install it"
    return {canonical(name) for name in names}


def test_pyproject_reads_requirements_txt():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["dynamic"] == ["dependencies"]
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}


def test_every_imported_package_is_declared_and_every_declared_one_imported():
    runtime = declared(ROOT / "requirements.txt")
    imported = {module: distributions_of(module) for module in third_party_imports()}
    missing = {
        module: sorted(third_party_imports()[module])[:3]
        for module, dists in imported.items()
        if not dists & set(runtime)
    }
    assert not missing, f"imported but not in requirements.txt (pin the installed version there): {missing}"
    unused = set(runtime) - set().union(*imported.values()) - {canonical(d) for d in DECLARED_NOT_IMPORTED}
    assert not unused, (
        f"declared in requirements.txt but imported by nothing in src/ or stages/: {sorted(unused)}; "
        "drop them there (a tool only the tests use goes in requirements-dev.txt)"
    )


def test_the_pins_are_what_is_installed():
    from importlib.metadata import PackageNotFoundError, version

    for name, pinned in declared(ROOT / "requirements-dev.txt").items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            pytest.fail(
                f"{name}=={pinned} is declared but not installed: `.venv/bin/pip install -r requirements-dev.txt`"
            )
        assert installed.split("+")[0] == pinned, f"{name}: {pinned} pinned, {installed} installed"
