"""Generate ``nnunet_explorer/v1_lines.json``: the source line of every v1 object the explorer mirrors.

Every ``@mirrors("nnunet.module:Qual.name")`` in the package is found with ``ast`` (nothing is imported), and
the object is looked up, again with ``ast``, in v1.7.1's source files as installed from its sdist (the files
of the ``v1.7.1`` tag). The table lets :attr:`nnunet_explorer.provenance.V1Reference.url` link to the line
(``...#L123``) without nnU-Net installed at run time.

    python scripts/v1_lines.py > nnunet_explorer/v1_lines.json     # regenerate
    python scripts/v1_lines.py --check                              # exit 1 if the file is stale

A qualname resolves to the ``def`` / ``class`` line (its first decorator's, as ``inspect`` counts); a name that is no definition resolves to its first
assignment: ``NAME = ...`` at module or class level, or ``self.NAME = ...`` in a method of the class (v1 sets
most hyperparameters in ``__init__``). ``Class.method.__init__``-style paths walk nested definitions.
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nnunet_explorer"
TABLE = PACKAGE / "v1_lines.json"


def references_in_package(package: Path = PACKAGE) -> list[str]:
    """Every string passed to ``mirrors(...)`` or as ``v1=...`` to a step, sorted and unique."""
    refs: set[str] = set()
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name == "mirrors" and node.args and isinstance(node.args[0], ast.Constant):
                refs.add(node.args[0].value)
            for kw in node.keywords:
                if kw.arg == "v1" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    refs.add(kw.value.value)
    return sorted(r for r in refs if isinstance(r, str) and ":" in r)


def v1_source_root() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("nnunet")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("nnunet (1.7.1) is not installed: pip install nnunet==1.7.1")
    return Path(list(spec.submodule_search_locations)[0]).parent


def module_file(module: str, site: Path) -> tuple[Path, str]:
    """The source file of ``module`` and its path relative to the repository root (as on GitHub)."""
    base = site.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path, str(path.relative_to(site)).replace("\\", "/")
    raise LookupError(f"no source file for module {module}")


def _assigned_names(node: ast.AST) -> list[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
        node, (ast.AnnAssign, ast.AugAssign)) else []
    out = []
    for target in targets:
        for t in ast.walk(target):
            if isinstance(t, ast.Name):
                out.append(t.id)
            elif isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                out.append("self." + t.attr)
    return out


def _find(body: list[ast.stmt], name: str, *, in_class: bool) -> ast.AST | None:
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node
    for node in body:  # NAME = ... at this level (also inside if/try blocks)
        for sub in ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node]:
            if name in _assigned_names(sub):
                return sub
    if in_class:  # self.NAME = ... in a method, __init__ first
        methods = [n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        methods.sort(key=lambda n: n.name != "__init__")
        for method in methods:
            for sub in ast.walk(method):
                if "self." + name in _assigned_names(sub):
                    return sub
    return None


def resolve_line(module: str, qualname: str, site: Path) -> int:
    """The 1-based line of ``module:qualname`` in v1's source; LookupError when it is not there."""
    path, _ = module_file(module, site)
    body: list[ast.stmt] = ast.parse(path.read_text(encoding="utf-8"), str(path)).body
    node: ast.AST | None = None
    in_class = False
    for part in qualname.split("."):
        node = _find(body, part, in_class=in_class)
        if node is None:
            raise LookupError(f"{module}:{qualname}: {part!r} not found in {path}")
        in_class = isinstance(node, ast.ClassDef)
        body = getattr(node, "body", [])
    decorators = getattr(node, "decorator_list", [])
    # the first decorator line, as inspect.getsourcelines gives it (``@staticmethod`` belongs to the def)
    return min([node.lineno, *(d.lineno for d in decorators)])  # type: ignore[union-attr]


def build_table() -> dict:
    from importlib.metadata import version  # nnunet is not imported: it prints a banner and reads env vars

    site = v1_source_root()
    lines, files, missing = {}, {}, []
    for ref in references_in_package():
        module, qualname = ref.split(":", 1)
        try:
            lines[ref] = resolve_line(module, qualname, site)
            files[module] = module_file(module, site)[1]
        except LookupError as exc:
            missing.append(str(exc))
    if missing:
        raise SystemExit("unresolved v1 references:\n  " + "\n  ".join(missing))
    return {"nnunet_version": version("nnunet"), "files": dict(sorted(files.items())), "lines": lines}


def render(table: dict) -> str:
    return json.dumps(table, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed table instead")
    args = parser.parse_args(argv)
    text = render(build_table())
    if args.check:
        if not TABLE.is_file() or TABLE.read_text(encoding="utf-8") != text:
            print(f"{TABLE} is stale: python scripts/v1_lines.py > {TABLE.relative_to(ROOT)}", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
