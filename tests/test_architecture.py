"""The dependency rule (docs/architecture.md): imports run one way, from pages down to types.

    base <- interfaces <- data <- scm <- datasets <- models <- registry <- counterfactual / metrics
         <- training <- services / evaluate <- cli <- ui <- pages

A module may import its own layer or any layer below it, never above; there are no import cycles (deferred
imports inside functions count the same as imports at the top); no module imports another's private
(underscore) name; no file is longer than MAX_LINES.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400

# Lowest first. A module belongs to the first entry whose name is a prefix of its dotted name.
LAYERS: list[tuple[str, ...]] = [
    ("explorer.types", "explorer.paths", "explorer.device", "explorer.checkpoints", "explorer.model_thread",
     "explorer"),  # the package's __init__
    ("explorer.interfaces",),
    ("explorer.data",),
    ("explorer.scm",),
    ("explorer.datasets",),
    ("explorer.models",),
    ("explorer.registry",),
    ("explorer.counterfactual", "explorer.metrics"),
    ("explorer.training",),
    ("explorer.services", "explorer.evaluate"),
    ("explorer.__main__", "explorer.cli_checks", "explorer.cli_audit_table",
     "explorer.cli_census_export", "explorer.cli_census_evaluate", "explorer.cli_census_train",
     "explorer.cli_cf_generator"),  # the command line, its shared
    # argument checks, and the subcommands wired outside __main__.py to keep it under MAX_LINES
    ("explorer.ui",),
    ("pages", "app"),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module: str) -> int:
    best, rank = -1, None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    assert rank is not None, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return rank


def _sources() -> list[Path]:
    return sorted([*(ROOT / "explorer").rglob("*.py"), *(ROOT / "pages").glob("*.py"), ROOT / "app.py"])


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import of our own code, wherever it sits."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] in ("explorer", "pages")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] in ("explorer", "pages"):
            out.append((node.module, [a.name for a in node.names], node.lineno))
    return out


def _graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports (a `from package import module` counts as the module)."""
    known = {_module_name(p) for p in _sources()}
    graph: dict[str, set[str]] = {}
    for path in _sources():
        edges = set()
        for module, names, _ in _imports(path):
            subs = [f"{module}.{n}" for n in names if f"{module}.{n}" in known]
            edges |= set(subs) if subs else {module}
        graph[_module_name(path)] = edges
    return graph


def test_imports_run_down_the_layers():
    bad = []
    for path in _sources():
        me = _module_name(path)
        for module, names, line in _imports(path):
            targets = [f"{module}.{n}" for n in names] or [module]
            for target in targets:
                if target.startswith("explorer.") and not (ROOT / (target.replace(".", "/") + ".py")).exists() \
                        and not (ROOT / target.replace(".", "/")).is_dir():
                    target = module  # a name from the module, not a submodule
                if _layer(target) > _layer(me):
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {target} (a higher layer)")
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    graph, state, cycles = _graph(), {}, []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_private_names_across_modules():
    bad = [f"{p.relative_to(ROOT)}:{line} takes {n} from {module}"
           for p in _sources() for module, names, line in _imports(p) for n in names
           if n.startswith("_") and not n.startswith("__")]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("folder", ["explorer", "pages", "tests", "bench"])
def test_files_stay_small(folder):
    files = [ROOT / "app.py"] if folder == "pages" else []
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in [*(ROOT / folder).rglob("*.py"), *files]
            if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not long, f"files over {MAX_LINES} lines (split them):\n" + "\n".join(long)


def test_the_rule_catches_a_violation(tmp_path):
    """The checker itself: a model importing a service is refused."""
    assert _layer("explorer.models.cnn") < _layer("explorer.services.image")
    assert _layer("explorer.ui.widgets") > _layer("explorer.services.image") > _layer("explorer.registry")
    assert _layer("explorer.scm.morpho") > _layer("explorer.data.mnist")
