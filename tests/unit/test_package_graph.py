"""The package graph has no cycle between the server adapters and the layers above them: the
service layer and the web front end never import `postroom.server`, and the server package
imports neither of them (the node is given its admin app). Every import counts, including
those inside functions, which is how a cycle used to be dodged."""
from __future__ import annotations

import ast
from pathlib import Path

import postroom

ROOT = Path(postroom.__file__).parent
FORBIDDEN = {  # package -> packages it must not import
    "service": ("postroom.server", "postroom.web", "postroom.cli"),
    "web": ("postroom.server",),
    "server": ("postroom.web", "postroom.service", "postroom.cli"),
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module `path` imports, relative imports resolved: (line, dotted name)."""
    package = ["postroom", *path.relative_to(ROOT).parent.parts]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def violations(package: str) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in imported_modules(path):
            if any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN[package]):
                out.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return sorted(set(out))


def test_the_service_layer_imports_no_server_web_or_cli_module():
    assert violations("service") == []


def test_the_web_front_end_imports_no_server_module():
    assert violations("web") == []


def test_the_server_package_imports_no_web_service_or_cli_module():
    assert violations("server") == []


def test_the_check_sees_imports_inside_functions(tmp_path, monkeypatch):
    fake = tmp_path / "server" / "x.py"
    fake.parent.mkdir()
    fake.write_text("def f():\n    from ..web.app import create_app\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert (2, "postroom.web.app") in imported_modules(fake)
