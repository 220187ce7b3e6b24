"""The layers of sparsegen, checked statically (imports inside functions count too).

Top to bottom: cli → demo, studies → models → metrics, nn, data, plotting → core. A package may import
its own layer's packages only where the table below allows it, never a package above it, and the package
graph has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "sparsegen"
LAYER = {"core": 0, "data": 1, "nn": 1, "metrics": 1, "plotting": 1, "models": 2, "demo": 3, "studies": 3,
         "cli": 4, "__main__": 5}
SAME_LAYER = {("metrics", "plotting")}  # the evaluation writes its comparison plots


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "sparsegen" and len(parts) > 1 else None


def import_graph() -> dict[str, set[str]]:
    """package → packages it imports (statically, anywhere in its files)."""
    edges: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
        me = package_of(module) if module != "sparsegen" else None
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".")[
                        : len(module.split(".")) - node.level + (path.name == "__init__.py")
                    ]
                    names = [".".join(base + ([node.module] if node.module else []))]
                elif node.module:
                    names = [node.module]
                if names == ["sparsegen"]:  # from sparsegen import plotting (a module, not __version__)
                    names = [f"sparsegen.{a.name}" for a in node.names
                             if (ROOT / a.name).is_dir() or (ROOT / f"{a.name}.py").is_file()]
            for name in names:
                other = package_of(name)
                if me and other and other != me:
                    edges.setdefault(me, set()).add(other)
    return edges


def test_every_package_has_a_layer():
    packages = {
        p.stem if p.is_file() else p.name
        for p in ROOT.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")
    }
    assert packages == set(LAYER), packages ^ set(LAYER)


def test_no_import_goes_up_or_sideways():
    bad = sorted(f"{a} -> {b}" for a, targets in import_graph().items() for b in targets
                 if LAYER[b] > LAYER[a] or (LAYER[b] == LAYER[a] and (a, b) not in SAME_LAYER))
    assert not bad, bad


def test_no_package_cycle():
    edges = import_graph()

    def reaches(a: str, b: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(w == b or (w not in seen and reaches(w, b, seen | {w})) for w in edges.get(a, ()))

    assert not [p for p in edges if reaches(p, p)]


def test_core_imports_nothing_of_sparsegen_but_itself():
    assert import_graph().get("core", set()) == set()


def test_the_graph_sees_imports_inside_functions():
    # the cli imports models only inside functions (for start-up speed); the graph must still see it
    assert "models" in import_graph()["cli"]
