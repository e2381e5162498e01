"""The layers of DESIGN.md hold, checked by import-linter from the contracts in pyproject.toml
(`make lint` runs the same): each layer imports only those below it, front ends reach the store
only through the service layer, and the two store backends import neither each other. Every
import counts, including those inside functions, which is how a cycle used to be dodged.

The layers contract is an allow-list only if every module of postroom sits in a layer: a new
top-level module must say where it belongs, or this fails."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import postroom

PACKAGE = Path(postroom.__file__).parent
PYPROJECT = PACKAGE.parent.parent / "pyproject.toml"


def contracts() -> list[dict]:
    return tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]


def test_the_import_contracts_hold():
    # In a process of its own: import-linter configures logging, which the log tests would inherit.
    check = ("import sys; from importlinter.cli import lint_imports; "
             f"sys.exit(lint_imports(config_filename={str(PYPROJECT)!r}, no_cache=True, no_logo=True))")
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_module_of_postroom_sits_in_a_layer():
    [layers] = [c for c in contracts() if c["type"] == "layers"]
    placed = {name.strip() for layer in layers["layers"] for name in layer.split("|")}
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    modules |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert sorted(modules - placed) == []
