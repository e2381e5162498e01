"""The Store's roles (storage/base.py): they make up the whole Store, every backend implements
every role with the role's own signatures, the contract suite runs every role, and the
backends share code only through storage/sql."""
from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import postroom.storage
from postroom.storage.base import ROLES, MailStore, Store
from postroom.storage.changes import MailboxChanges
from postroom.storage.folders import FolderStore
from postroom.storage.postgres import PostgresStore
from postroom.storage.sqlite import SqliteStore

from .conftest import ROLE_MARKS

STORAGE = Path(postroom.storage.__file__).parent


def methods(protocol: type) -> set[str]:
    """The methods a protocol declares, with those of the protocols it extends."""
    modules = (Store.__module__, FolderStore.__module__, MailboxChanges.__module__)
    return {name for klass in protocol.__mro__ if klass.__module__ in modules
            for name, value in vars(klass).items() if inspect.iscoroutinefunction(value)}


def test_the_roles_make_up_the_whole_store():
    assert set().union(*(methods(role) for role in ROLES)) == methods(Store)
    assert not {n for n, v in vars(Store).items() if inspect.iscoroutinefunction(v)}  # nothing of its own


def test_a_pop3_session_needs_only_the_mail_role():
    assert methods(MailStore) == {"find_mailbox", "get_mailbox", "try_lock_mailbox", "unlock_mailbox",
                                  "list_messages", "read_message", "delete_messages", "mailbox_usage"}


@pytest.mark.parametrize("backend", [SqliteStore, PostgresStore], ids=["sqlite", "postgres"])
@pytest.mark.parametrize("role", ROLES, ids=[role.__name__ for role in ROLES])
def test_every_backend_implements_every_role_as_declared(backend, role):
    for name in sorted(methods(role)):
        declared = inspect.signature(getattr(role, name))
        implemented = inspect.signature(getattr(backend, name))
        assert [(p.name, p.kind, p.default) for p in implemented.parameters.values()] == [
            (p.name, p.kind, p.default) for p in declared.parameters.values()], f"{backend.__name__}.{name}"


def test_the_contract_suite_is_marked_with_every_role():
    marked = set()
    here = Path(__file__).parent
    contract = [*here.glob("test_store_contract*.py"), here / "test_folders_contract.py"]
    for path in sorted(contract):
        module = importlib.import_module(f"{__package__}.{path.stem}")
        marks = module.pytestmark if isinstance(module.pytestmark, list) else [module.pytestmark]
        assert marks and all(mark.name in ROLE_MARKS for mark in marks), path.name
        marked |= {mark.name for mark in marks}
    assert marked == set(ROLE_MARKS)
    assert set(ROLE_MARKS.values()) == {role.__name__ for role in ROLES}


def imports(package: str) -> set[str]:
    """Every module the package's files import, as absolute names."""
    found = set()
    for path in (STORAGE / package).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = "postroom.storage" if node.level == 2 else f"postroom.storage.{package}" \
                    if node.level == 1 else "postroom" if node.level == 3 else ""
                module = ".".join(part for part in (base, node.module or "") if part)
                found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("package, forbidden", [
    ("sqlite", ("postroom.storage.postgres", "asyncpg")),
    ("postgres", ("postroom.storage.sqlite", "sqlite3")),
    ("sql", ("postroom.storage.sqlite", "postroom.storage.postgres", "sqlite3", "asyncpg")),
])
def test_no_backend_imports_the_other(package, forbidden):
    found = imports(package)
    assert found, package
    assert not {name for name in found if name.startswith(forbidden)}
