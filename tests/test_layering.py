"""The package's layers, declared once and enforced by parsing every import in ``src/zipasr``.

A module may import from its own package and from packages in lower layers, never from a
higher one. Every import counts: top-level, function-local, and those under ``TYPE_CHECKING``,
so a cycle cannot be hidden by moving an import into a function. The module-level import graph
must also be free of cycles inside a package.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "zipasr"

#: Lowest layer first. A unit is a top-level module or subpackage of zipasr ("zipasr" is the
#: package's own __init__, the public API). Units in one layer may not import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("text",),  # normalisers, CJK characters, byte-level BPE mapping (pure Python)
    ("frontend", "optional", "weights", "metrics", "files", "allocator"),  # leaves: facts, helpers
    ("schedule",),  # the training clock and its schedules
    ("regularizers",),  # training-only modules, identity in eval
    ("nn",),  # paper building blocks
    ("encoder",),
    ("losses", "optim"),
    ("models",),
    ("convert",),  # icefall checkpoints -> models
    ("loading",),  # zipasr.load: a model directory or an icefall file
    ("audio",),  # reading audio, fbank features (no lhotse needed to import)
    ("decoding",),
    ("streaming",),
    ("data",),  # lhotse corpora, batches, tokenizers
    ("longform",),  # long recordings: VAD, segments, merging windows, subtitles
    ("recognize",),
    ("export", "train"),
    ("zipasr",),  # the public API
    ("cli",),
    ("testing",),  # fixtures for tests and downstream users; library code never imports it
)

RANK = {unit: rank for rank, layer in enumerate(LAYERS) for unit in layer}


@dataclass(frozen=True)
class Import:
    source: str  # dotted module that imports
    target: str  # dotted module imported (resolved; a package means its __init__)
    line: int
    local: bool  # inside a function


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(dotted: str) -> bool:
    path = SRC.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path, source: str | None = None) -> list[Import]:
    """Every ``zipasr`` import in the file at ``path``, with relative imports resolved."""
    source = source or module_name(path)
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module or ""
                # ``from zipasr.a import b`` imports the module zipasr.a.b when there is one.
                named = [f"{module}.{alias.name}" for alias in child.names]
                targets = [n for n in named if is_module(n)] or [module]
            for target in targets:
                if target == "zipasr" or target.startswith("zipasr."):
                    found.append(Import(source, target, child.lineno, local))
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def unit_of(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "zipasr"


def all_imports() -> list[Import]:
    return [imp for path in sorted(PACKAGE.rglob("*.py")) for imp in imports_of(path)]


def upward_imports(imports: list[Import]) -> list[str]:
    """Imports that point to the same or a higher layer in another unit, as messages."""
    problems = []
    for imp in imports:
        a, b = unit_of(imp.source), unit_of(imp.target)
        if a == b:
            continue
        if RANK[b] >= RANK[a]:
            where = "function-local import" if imp.local else "import"
            problems.append(
                f"{imp.source} (layer {RANK[a]}: {a}) line {imp.line}: {where} of {imp.target} "
                f"(layer {RANK[b]}: {b}); a module may import only from lower layers"
            )
    return problems


def cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected groups of modules (Tarjan), ignoring a package's imports of its own
    submodules (an ``__init__`` re-exporting them is not a dependency of theirs)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if imp.target.startswith(imp.source + "."):
            continue
        graph.setdefault(imp.source, set()).add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_every_unit_has_a_layer():
    units = {unit_of(module_name(p)) for p in PACKAGE.rglob("*.py")}
    missing = sorted(units - set(RANK))
    assert not missing, f"add these to LAYERS in {__file__}: {missing}"


def test_no_import_points_upward():
    problems = upward_imports(all_imports())
    assert not problems, "\n".join(problems)


def test_no_import_cycles():
    found = cycles(all_imports())
    assert not found, "\n".join(" <-> ".join(group) for group in found)


def test_a_planted_upward_import_is_caught(tmp_path: Path):
    """The checker itself: a function-local import of a higher layer, written into a copy of a
    real low-level module, is reported with its line."""
    planted = tmp_path / "bias_norm.py"
    original = (PACKAGE / "nn" / "bias_norm.py").read_text(encoding="utf-8")
    planted.write_text(original + "\n\ndef _hidden():\n    from zipasr.train import train\n")
    found = imports_of(planted, source="zipasr.nn.bias_norm")
    problems = upward_imports(found)
    assert len(problems) == 1 and "function-local import of zipasr.train" in problems[0]


def test_a_planted_cycle_is_caught():
    imports = [
        Import("zipasr.data.a", "zipasr.data.b", 1, False),
        Import("zipasr.data.b", "zipasr.data.a", 1, True),
    ]
    assert cycles(imports) == [["zipasr.data.a", "zipasr.data.b"]]


@pytest.mark.parametrize("module", ["zipasr.testing"])
def test_library_never_imports_test_fixtures(module: str):
    users = sorted({i.source for i in all_imports() if i.target == module})
    assert not users, f"library modules import {module}: {users}"
