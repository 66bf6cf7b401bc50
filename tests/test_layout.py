"""The house rules of the layout: imports flow one way, downwards, and nothing imports in a circle.

    worlds  <  playground.models  <  playground.{inverse, uncertainty, evaluation}  <  playground.scenes  <  playground.app  <  app.py

Checked on the source (every import statement, also those inside functions), so a lazy import cannot
hide a circle or a wrong-way dependency.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]

# Which part may import which (besides itself). A part is `worlds` or a sub-package of `playground`.
ALLOWED = {
    "worlds": set(),
    "playground": {"playground.models"},  # the package's short-cuts: build, fit, load, save
    "playground.models": {"worlds"},
    "playground.inverse": {"worlds", "playground.models"},
    "playground.uncertainty": {"worlds", "playground.models"},
    "playground.evaluation": {"worlds", "playground.models"},
    "playground.scenes": {"worlds", "playground.models", "playground.inverse"},
    "playground.app": {
        "worlds",
        "playground",
        "playground.models",
        "playground.inverse",
        "playground.uncertainty",
        "playground.evaluation",
        "playground.scenes",
    },
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, as absolute dotted names (`from a import b` counts as a and a.b)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def sources() -> dict[str, Path]:
    files = [*ROOT.glob("worlds/**/*.py"), *ROOT.glob("playground/**/*.py")]
    return {module_name(p): p for p in files}


def part(module: str) -> str:
    pieces = module.split(".")
    return ".".join(pieces[:2]) if pieces[0] == "playground" and len(pieces) > 1 else pieces[0]


def test_each_part_imports_only_the_parts_below_it():
    wrong = []
    for name, path in sources().items():
        for target in imports(path):
            if part(target) in ALLOWED and part(target) != part(name) and part(target) not in ALLOWED[part(name)]:
                wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(sorted(wrong))


def test_only_the_app_layer_imports_gradio():
    files = [ROOT / "app.py", *sources().values()]
    users = {module_name(p) for p in files if any(t.split(".")[0] == "gradio" for t in imports(p))}
    assert users, "the app imports gradio somewhere"
    assert all(u == "app" or u.startswith("playground.app.tabs") for u in users), sorted(users)


def test_no_module_imports_in_a_circle():
    modules = sources()
    graph = defaultdict(set)
    for name, path in modules.items():
        for target in imports(path):
            while target and target not in modules:  # `from a.b import f` -> module a.b
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):  # a package's own __init__
                graph[name].add(target)
    state, cycle = {}, []

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle.append(" -> ".join(trail[trail.index(nxt) :] + [nxt]) if nxt in trail else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for name in sorted(modules):
        if name not in state:
            visit(name, [name])
    assert not cycle, "\n".join(cycle)


def test_the_package_lists_the_same_dependencies_as_requirements():
    """pyproject.toml's dependencies are requirements.txt's library group (the rest is for tests)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    wanted = [line for line in lines if line]
    library = project["dependencies"]
    tests = project["optional-dependencies"]["test"]
    assert wanted == library + tests
    assert re.fullmatch(r"torch==2\.13\.0", library[0])


def readme_layout() -> set[str]:
    """The paths named by the README's layout map: a tree, two spaces of indent a level, the names
    (comma-separated) before the first run of two spaces, the description after."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Layout", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    named, parents = set(), []
    for line in block.strip("\n").splitlines():
        depth = (len(line) - len(line.lstrip(" "))) // 2
        names = [n.strip() for n in re.split(r"\s{2,}", line.strip(), maxsplit=1)[0].split(",")]
        parents = parents[:depth]
        for name in names:
            path = "".join(parents) + name
            named.add(path)
            named.update(path[: i + 1] for i, c in enumerate(path) if c == "/")  # results/x.json names results/
        if names[-1].endswith("/"):
            parents.append(names[-1])
    return named


def test_the_readme_layout_map_matches_the_tree():
    named = readme_layout()
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert not missing, f"the README's layout names paths that do not exist: {missing}"
    folders = {
        f"{p.relative_to(ROOT)}/"
        for root in ("worlds", "playground")
        for p in [ROOT / root, *(ROOT / root).rglob("*")]
        if p.is_dir() and p.name != "__pycache__"
    }
    modules = {
        str(p.relative_to(ROOT))
        for p in [*ROOT.glob("worlds/*.py"), *ROOT.glob("playground/*/*.py")]
        if p.name != "__init__.py"
    }
    unnamed = sorted((folders | modules) - named)
    assert not unnamed, f"the README's layout map does not name: {unnamed}"
