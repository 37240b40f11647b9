"""Imports go ``pages -> training -> synth_core``, never back (docs/ARCHITECTURE.md).

Two checks: every ``synth_core`` module imports in a fresh interpreter without loading any
``training`` or ``streamlit`` module, and no ``synth_core`` source file names either package in an
import statement, not even inside a function (which a plain import would not run)."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT

FORBIDDEN = ("training", "streamlit")

SCRIPT = """
import importlib, pkgutil, sys
import synth_core

names = sorted(m.name for m in pkgutil.walk_packages(synth_core.__path__, "synth_core.")
               if not m.name.endswith(".__main__"))
for name in names:
    importlib.import_module(name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in {forbidden!r})
print(len(names), "modules")
if bad:
    raise SystemExit("synth_core loaded " + ", ".join(bad))
"""


def _imported_packages(path) -> set[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {(a.name.split(".")[0], node.lineno) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add((node.module.split(".")[0], node.lineno))
    return out


def test_every_synth_core_module_imports_without_training_or_streamlit():
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(forbidden=set(FORBIDDEN))], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert int(done.stdout.split()[0]) > 100  # the walk found the library, not an empty package


def test_no_synth_core_source_imports_training_or_streamlit():
    found = [f"{p.relative_to(ROOT)}:{line} imports {pkg}"
             for p in sorted((ROOT / "synth_core").rglob("*.py"))
             for pkg, line in sorted(_imported_packages(p)) if pkg in FORBIDDEN]
    assert not found, "\n".join(found)



def test_no_page_file_shares_a_name_with_a_package():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    clashes = sorted(p.name for p in (ROOT / "pages").glob("*.py") if p.stem in packages)
    assert not clashes, f"pages/{clashes} would shadow a package when pages/ is first on sys.path"


def test_st_means_streamlit_only():
    """Outside the pages the name ``st`` is never a variable (in pages it is Streamlit)."""
    found = []
    for p in sorted([*(ROOT / "synth_core").rglob("*.py"), *(ROOT / "training").rglob("*.py")]):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"), filename=str(p))):
            if isinstance(node, ast.Name) and node.id == "st" or isinstance(node, ast.arg) and node.arg == "st":
                found.append(f"{p.relative_to(ROOT)}:{node.lineno}")
    assert not found, "\n".join(found)
