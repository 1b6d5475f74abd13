"""Imports point inward, and the execution plane cannot reach keys, policy or the database.

These are architecture rules, checked on the source so that a convenient
import cannot quietly break them.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "qplane"


def _imports(package: str) -> dict[str, set[str]]:
    """Module path → the absolute modules it imports (module-level and nested)."""
    found: dict[str, set[str]] = {}
    for path in sorted((SRC / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(SRC))] = names
    return found


def test_the_domain_imports_only_the_standard_library() -> None:
    for module, names in _imports("domain").items():
        for name in names:
            root = name.split(".")[0]
            assert root in sys.stdlib_module_names or name.startswith("qplane.domain"), (
                f"{module} imports {name}"
            )


@pytest.mark.parametrize("framework", ["fastapi", "starlette", "typer", "uvicorn"])
def test_web_and_cli_frameworks_stay_at_the_edges(framework: str) -> None:
    edges = ("api/", "cli/", "embedded.py")
    for package in [p.name for p in SRC.iterdir() if p.is_dir() and p.name != "__pycache__"]:
        for module, names in _imports(package).items():
            if module.startswith(edges):
                continue
            assert not any(n.split(".")[0] == framework for n in names), (
                f"{module} imports {framework}"
            )


@pytest.mark.parametrize(
    "forbidden",
    [
        "qplane.store",
        "qplane.crypto",
        "qplane.policy",
        "qplane.broker.jobs",
        "qplane.broker.dispatch",
        "qplane.audit",
        "sqlalchemy",
    ],
)
def test_the_execution_plane_never_imports_keys_policy_or_the_database(forbidden: str) -> None:
    for package in ("worker", "backends"):
        for module, names in _imports(package).items():
            assert not any(n == forbidden or n.startswith(forbidden + ".") for n in names), (
                f"{module} imports {forbidden}"
            )


def test_raw_cryptographic_primitives_stay_inside_crypto() -> None:
    for package in [p.name for p in SRC.iterdir() if p.is_dir() and p.name != "crypto"]:
        for module, names in _imports(package).items():
            assert "qplane.crypto._primitives" not in names, module
            assert not any(n.startswith("cryptography.hazmat.primitives.ciphers") for n in names), (
                module
            )
