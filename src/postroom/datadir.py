"""The data directory: which server it belongs to and which store it uses (written once by
`postroom init`)."""
from __future__ import annotations

import fcntl
import json
import logging
import os
from contextlib import contextmanager
from typing import Any, BinaryIO, Iterator

from .errors import Conflict, ValidationError

NODE_FILE = "node.json"
PRIVATE_MODE = 0o600  # node.json and keys: the owner only
EXAMPLE = '{"server": "EX01"}'  # what node.json holds for an embedded store
log = logging.getLogger("postroom")


def read_local_server(data_dir: str) -> str:
    """The server this data directory belongs to (node.json's "server")."""
    return read_node_file(data_dir)["server"]


def read_store_url(data_dir: str) -> str | None:
    """The store URL `postroom init --store` recorded (None: the embedded store, or no
    node.json yet)."""
    if not os.path.exists(os.path.join(data_dir, NODE_FILE)):
        return None
    return read_node_file(data_dir).get("store") or None


def read_node_file(data_dir: str) -> dict[str, Any]:
    """node.json, checked: a JSON object with "server" (a non-empty string) and, for a shared
    store, "store" (its URL). Anything else is refused naming the file and the key, so every
    command (serve included) says what is wrong instead of failing somewhere later."""
    path = os.path.abspath(os.path.join(data_dir, NODE_FILE))
    try:
        with open(path, "rb") as handle:
            content = json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        raise ValidationError("data", _no_install_here(data_dir)) from None
    except OSError as exc:
        raise _bad_node_file(path, f"cannot be read ({exc.strerror or exc.__class__.__name__})") from None
    except UnicodeDecodeError:
        raise _bad_node_file(path, "is not UTF-8 text") from None
    except ValueError as exc:  # json.JSONDecodeError says where: "Expecting value: line 1 column 1 (char 0)"
        raise _bad_node_file(path, f"is not valid JSON ({exc})") from None
    if not isinstance(content, dict):
        raise _bad_node_file(path, f"holds {_json_kind(content)}, not a JSON object")
    if "server" not in content:
        raise _bad_node_file(path, 'has no "server" key (the name of the server this data directory belongs to)')
    server = content["server"]
    if not isinstance(server, str) or not server.strip():
        raise _bad_node_file(path, f'key "server" holds {_json_kind(server)}, not a server name')
    store = content.get("store")
    if store is not None and not isinstance(store, str):
        raise _bad_node_file(path, f'key "store" holds {_json_kind(store)}, not a store URL')
    return content


def _no_install_here(data_dir: str) -> str:
    """Why a command found no install, for someone who may just be in the wrong directory: the
    absolute path looked at (a relative one depends on where the command runs), how to point
    at the real data directory, and only then how to make a new one."""
    where = os.path.abspath(data_dir)
    relative = "" if os.path.isabs(data_dir) else f", from {data_dir} in the current directory {os.getcwd()}"
    return (f"no postroom install in {where} (looked for {os.path.join(where, NODE_FILE)}{relative}). "
            "If postroom is installed elsewhere, point at its data directory with --data DIR or "
            "the POSTROOM_DATA environment variable (`make run` keeps it in var/ of the checkout it ran in); "
            f"to create a new install here instead, run `postroom init --data {data_dir}`")


def _bad_node_file(path: str, why: str) -> ValidationError:
    return ValidationError("data", f"{path} {why}; it should read like {EXAMPLE} (`postroom init` writes it)")


def _json_kind(value: Any) -> str:
    if isinstance(value, str):
        return "an empty string" if not value.strip() else "a string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return "a number"
    return "an array" if isinstance(value, list) else "an object"


@contextmanager
def create_private(path: str) -> Iterator[BinaryIO]:
    """A file only its owner may read, from its first byte: node.json (`init` and `restore`)
    and private keys. fchmod too: a file already at `path` keeps its old mode through O_TRUNC."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    os.fchmod(fd, PRIVATE_MODE)
    with os.fdopen(fd, "wb") as handle:
        yield handle


def write_local_server(data_dir: str, server: str, store: str | None = None) -> None:
    """node.json: this data directory's server and, for a shared store, its URL. Only the
    owner may read it: the URL may hold the database password."""
    path = os.path.join(data_dir, NODE_FILE)
    content = {"server": server} if store is None else {"server": server, "store": store}
    with create_private(path + ".tmp") as handle:
        handle.write(json.dumps(content).encode())
    os.replace(path + ".tmp", path)


def claim_data_dir(data_dir: str) -> int:
    """One node per embedded store: its mailbox locks live in that process's memory."""
    path = os.path.join(data_dir, "serve.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise Conflict(f"another postroom serve (pid {holder}) is already serving {os.path.abspath(data_dir)}"
                       ) from None
    try:  # the pid is for the message above; the lock is what counts, so a full disk may keep it empty
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
    except OSError as exc:
        log.warning("cannot write the pid to %s: %s", path, exc.strerror or exc)
    return fd  # held open (and locked) until the process exits
