"""The package's dependencies point one way (read from the source with `ast`, nothing imported).

Layers, lowest first; a module may import from its own layer and the layers below it:

    0 base      t2ilib (the package), config, errors, acceleration, viz
    1 data      t2ilib.data
    2 inputs    t2ilib.text, t2ilib.features          (what a generator is conditioned on)
    3 models    t2ilib.models
    4 metrics   t2ilib.metrics                        (scores of arrays of images)
    5 training  t2ilib.training
    6 evaluation t2ilib.evaluation (a run directory scored)
    7 top       t2ilib.cli, t2ilib.sweeps, t2ilib.__main__, t2ilib.colab

Where the undecided ones sit, and why:
- `viz` (sample grids, loss-curve figures, `to_uint8`) is base: training writes a grid and the
  loss curves every epoch, and viz itself needs nothing from t2ilib.
- `errors` (the kit's warnings and error types) is base: data, text and training raise and log
  through it.
- `metrics` sit below `training`: the trainers score fidelity every epoch, so training depends
  on metrics, never the other way. Metrics are arithmetic over arrays; the learned R-precision
  judge is a model (`models/judge.py`) trained by `training/judge.py`; scoring a whole run
  directory (`evaluation.py`) loads the run, so it sits above training.

Every import counts, also the ones inside functions: a cycle through a function-level import
still means two modules that cannot be understood (or moved) one without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "t2ilib"

LAYERS = {
    "t2ilib": 0, "t2ilib.config": 0, "t2ilib.errors": 0, "t2ilib.acceleration": 0, "t2ilib.viz": 0,
    "t2ilib.data": 1,
    "t2ilib.text": 2, "t2ilib.features": 2,
    "t2ilib.models": 3,
    "t2ilib.metrics": 4,
    "t2ilib.training": 5,
    "t2ilib.evaluation": 6,  # a run directory scored: loads the run (training), calls the metrics
    "t2ilib.storage": 1,  # sizes of data and run folders: reads files, imports nothing of the kit
    "t2ilib.cli": 7, "t2ilib.sweeps": 7, "t2ilib.__main__": 7, "t2ilib.colab": 7,  # colab: the notebooks' setup
}

# Upward imports that remain, each (importer, imported). They go away when run loading and caption
# embedding move out of training/stage1.py (issue 15 item 1): remove an entry when its import goes.
KNOWN_UPWARD_IMPORTS: set = set()  # none left: keep it that way


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(package: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(path, package): path for path in sorted(package.rglob("*.py"))}


def imports_of(name: str, path: Path, modules: dict) -> set[str]:
    """The t2ilib modules `name` imports anywhere in its source (a `from package import
    submodule` counts as the submodule)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.add(submodule if submodule in modules else target)
    return {target for target in found if target in modules and target != name}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = package_modules(package)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def layer_of(name: str) -> int:
    parts = name.split(".")
    for length in range(len(parts), 0, -1):
        prefix = ".".join(parts[:length])
        if prefix in LAYERS:
            return LAYERS[prefix]
    raise KeyError(name)


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), each as a sorted list."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def upward_imports(graph) -> set[tuple[str, str]]:
    return {(source, target) for source, targets in graph.items() for target in targets
            if layer_of(target) > layer_of(source)}


def test_every_module_has_a_layer():
    unplaced = []
    for name in package_modules():
        try:
            layer_of(name)
        except KeyError:
            unplaced.append(name)
    assert not unplaced, f"Give these modules a layer in LAYERS: {unplaced}"


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "Import cycles (every import counts, also inside functions): " + "; ".join(
        " <-> ".join(group) for group in cycles)


def test_no_upward_imports_beyond_the_known_ones():
    found = upward_imports(import_graph())
    new = sorted(found - KNOWN_UPWARD_IMPORTS)
    assert not new, "Upward imports (a lower layer importing a higher one): " + "; ".join(
        f"{source} (layer {layer_of(source)}) imports {target} (layer {layer_of(target)})" for source, target in new)
    gone = sorted(KNOWN_UPWARD_IMPORTS - found)
    assert not gone, f"These known upward imports are gone: remove them from KNOWN_UPWARD_IMPORTS: {gone}"


# --- the checker itself, on made-up graphs ---------------------------------------------------------
def test_the_checker_finds_cycles_through_function_level_imports_and_upward_imports(tmp_path):
    package = tmp_path / "t2ilib"
    (package / "text").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "text" / "__init__.py").write_text("from .base import make\n")
    (package / "text" / "base.py").write_text("def make():\n    from t2ilib.text.words import Words\n")
    (package / "text" / "words.py").write_text("from t2ilib.text.base import make\n")
    (package / "models.py").write_text("import t2ilib.training\n")
    (package / "training.py").write_text("from t2ilib import models\n")
    graph = import_graph(package)
    assert graph["t2ilib.text"] == {"t2ilib.text.base"} and graph["t2ilib.training"] == {"t2ilib.models"}
    assert sorted(find_cycles(graph)) == [["t2ilib.models", "t2ilib.training"],
                                          ["t2ilib.text.base", "t2ilib.text.words"]]
    assert upward_imports(graph) == {("t2ilib.models", "t2ilib.training")}


@pytest.mark.parametrize("name, layer", [("t2ilib", 0), ("t2ilib.viz", 0), ("t2ilib.data.cache", 1),
                                         ("t2ilib.features.xception", 2), ("t2ilib.metrics.fid", 4),
                                         ("t2ilib.training.stage1", 5), ("t2ilib.evaluation", 6),
                                         ("t2ilib.cli", 7)])
def test_layer_of(name, layer):
    assert layer_of(name) == layer
