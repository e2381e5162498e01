"""The data directory: which server it belongs to (written once by `postroom init`)."""
from __future__ import annotations

import json
import os

from .errors import ValidationError

NODE_FILE = "node.json"


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


def write_local_server(data_dir: str, server: str) -> None:
    path = os.path.join(data_dir, NODE_FILE)
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump({"server": server}, handle)
    os.replace(path + ".tmp", path)
