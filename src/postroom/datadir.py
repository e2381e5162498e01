"""The data directory: which server it belongs to and which store it uses (written once by
`postroom init`)."""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import BinaryIO, Iterator

from .errors import ValidationError

NODE_FILE = "node.json"
PRIVATE_MODE = 0o600  # node.json and keys: the owner only


def read_local_server(data_dir: str) -> str:
    try:
        with open(os.path.join(data_dir, NODE_FILE), encoding="utf-8") as handle:
            return json.load(handle)["server"]
    except FileNotFoundError:
        raise ValidationError(
            "data", f"{os.path.abspath(data_dir)} holds no postroom data; run `postroom init --data {data_dir}` first"
        ) from None
    except (OSError, ValueError, KeyError) as exc:
        raise ValidationError("data", f"{NODE_FILE} in {data_dir} is unreadable ({exc.__class__.__name__})") from None


def read_store_url(data_dir: str) -> str | None:
    """The store URL `postroom init --store` recorded (None: the embedded store)."""
    try:
        with open(os.path.join(data_dir, NODE_FILE), encoding="utf-8") as handle:
            value = json.load(handle).get("store")
    except (OSError, ValueError, AttributeError):
        return None  # no (readable) node.json yet: read_local_server says what is wrong
    return value if isinstance(value, str) and value else None


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
