"""The import graph of the project's own packages, read from the source with `ast` (every
import statement, inside functions too, and `importlib.import_module` / `find_spec` calls with
a literal name), for tests/test_layering.py.

A module belongs to a layer (`LAYERS`, longest prefix wins); `MAY_IMPORT` says which layers a
layer may import. Nothing here imports the code it reads.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PACKAGE_DIRS = {
    "tts_contract": "client/tts_contract",
    "tts_client": "client/tts_client",
    "tts_gateway": "client/tts_gateway",
    "vits2": "vits2",
    "tts_runtime": "model_repository/tts_runtime",
    "tts_model_repository": "model_repository/tts_model_repository",
    "tts_server": "model_repository/tts_server",
    "tts_export": "export/tts_export",
    "tts_benchmarks": "benchmarks/tts_benchmarks",
}
"""Import name -> the folder that holds it (each top folder holds its named packages)."""

LAYERS = {
    "tts_contract": "contract",
    "tts_client": "client",
    "tts_gateway": "gateway",
    "vits2.text": "text",
    "vits2.config": "voice config",
    "vits2.styles": "voice config",
    "vits2.serving": "serving core",
    "vits2": "model",
    "tts_runtime": "runtime",
    "tts_model_repository": "triton models",
    "tts_server": "server",
    "tts_export": "export",
    "tts_benchmarks": "benchmarks",
}
"""Module prefix -> its layer (the longest prefix that matches wins)."""

_CORE = {"contract", "text", "voice config", "serving core"}
MAY_IMPORT: dict[str, set[str]] = {
    "contract": set(),
    "client": {"contract"},
    # the gateway compiles OpenJTalk user dictionaries (/models/add?user_dict=, VOICEVOX's
    # /user_dict_word) with the text layer's compiler, imported inside those routes only: the
    # gateway extra alone answers them 501 (tests/test_import_graph.py holds it lazy)
    "gateway": {"contract", "client", "text"},
    "text": {"contract"},
    "voice config": set(),
    "serving core": {"contract", "text", "voice config"},
    "model": _CORE,
    "runtime": _CORE,
    "triton models": _CORE | {"runtime"},
    "server": {"contract"},
    "export": _CORE | {"model", "runtime", "triton models"},
    "benchmarks": _CORE | {"client", "model", "runtime", "triton models", "server", "export"},
}
"""Layer -> the other layers it may import. Only the benchmarks see (almost) everything; the
thin client and the gateway see nothing of the server side."""

THIRD_PARTY = {
    "contract": set(),
    "client": {"numpy", "tritonclient", "typer", "rich"},
    "gateway": {
        "numpy", "tritonclient", "typer", "rich",
        "fastapi", "starlette", "uvicorn", "httpx", "soundfile", "pyworld", "psutil",
    },
}  # fmt: skip
"""What the thin client distribution's layers may import beyond the standard library and the
project (client/pyproject.toml's dependencies and its gateway extra)."""


@dataclass(frozen=True)
class Import:
    """One import in one module: what it names, where."""

    module: str
    target: str
    line: int


def layer_of(module: str) -> str | None:
    best = max(
        (p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None
    )
    return LAYERS[best] if best else None


def modules(root: Path = ROOT, package_dirs: dict[str, str] = PACKAGE_DIRS) -> dict[str, Path]:
    """Every module of the project's packages: dotted name -> file."""
    found = {}
    for package, folder in package_dirs.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = [package, *path.relative_to(root / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _literal_imports(node: ast.Call) -> Iterator[str]:
    """``importlib.import_module("x")`` and ``importlib.util.find_spec("x")``."""
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    if name in ("import_module", "find_spec") and node.args:
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            yield arg.value


def imports_of(module: str, path: Path, known: dict[str, Path]) -> list[Import]:
    """Every module ``module`` imports (project or not), resolved to the longest known name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        elif isinstance(node, ast.Call):
            names = list(_literal_imports(node))
        for name in names:
            out.append(Import(module, _resolve(name, known), node.lineno))
    return out


def _resolve(name: str, known: dict[str, Path]) -> str:
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in known:
            return ".".join(parts[:n])
    return name


def graph(
    root: Path = ROOT, package_dirs: dict[str, str] = PACKAGE_DIRS
) -> dict[str, list[Import]]:
    """Module -> its imports."""
    known = modules(root, package_dirs)
    return {m: imports_of(m, p, known) for m, p in known.items()}


def upward(imports: dict[str, list[Import]]) -> list[str]:
    """The imports of a project layer that `MAY_IMPORT` does not allow, as readable lines."""
    bad = []
    for module, found in imports.items():
        own = layer_of(module)
        for imp in found:
            theirs = layer_of(imp.target)
            if theirs and theirs != own and theirs not in MAY_IMPORT[own]:
                bad.append(f"{module}:{imp.line} ({own}) imports {imp.target} ({theirs})")
    return bad


def foreign(imports: dict[str, list[Import]]) -> list[str]:
    """Imports of the thin client's layers outside the standard library, the project and
    `THIRD_PARTY`."""
    bad = []
    for module, found in imports.items():
        own = layer_of(module)
        if own not in THIRD_PARTY:
            continue
        for imp in found:
            top = imp.target.split(".")[0]
            if layer_of(imp.target) or top in sys.stdlib_module_names or top == "__future__":
                continue
            if top not in THIRD_PARTY[own]:
                bad.append(f"{module}:{imp.line} ({own}) imports {imp.target}")
    return bad


def circles(imports: dict[str, list[Import]]) -> list[list[str]]:
    """Groups of project modules that import each other, directly or around a circle
    (strongly connected components of more than one module, or a module importing itself)."""
    edges = {
        m: sorted({i.target for i in found if i.target in imports}) for m, found in imports.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm; the graph is a few hundred modules
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in edges[v]:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(edges)))
    for v in edges:
        if v not in index:
            visit(v)
    return found
