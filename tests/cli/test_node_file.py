"""A damaged node.json (the data directory's server name and store URL) is refused by every
command, serve included, with a message naming the file and the key: never "internal error"."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Admin, flat

BAD = {
    "array": (b"[]", "holds an array, not a JSON object"),
    "empty object": (b"{}", 'has no "server" key'),
    "string": (b'"x"', "holds a string, not a JSON object"),
    "invalid JSON": (b'{"server": "EX01"', "is not valid JSON"),
    "not UTF-8": (b'{"server": "\xff"}', "is not UTF-8"),
    "server of the wrong type": (b'{"server": 5}', 'key "server" holds a number'),
    "empty server": (b'{"server": ""}', 'key "server" holds an empty string'),
    "store of the wrong type": (b'{"server": "EX01", "store": ["x"]}', 'key "store" holds an array'),
}


@pytest.mark.parametrize("name", list(BAD))
def test_every_command_names_the_file_and_what_is_wrong(admin: Admin, name: str) -> None:
    content, why = BAD[name]
    node = admin.data / "node.json"
    node.write_bytes(content)
    for command in (["mailbox", "list"], ["pop", "show"], ["backup", str(admin.data.parent / "b.tar.gz")],
                    ["init", "--dev"]):
        text = flat(admin.fails(2, *command).stderr)
        assert f"error: data: {node} {why}" in text, (command, text)
        assert "internal error" not in text


@pytest.mark.parametrize("name", ["array", "empty object", "invalid JSON"])
def test_serve_names_the_file_and_what_is_wrong(admin: Admin, name: str) -> None:
    content, why = BAD[name]
    node = admin.data / "node.json"
    node.write_bytes(content)
    result = subprocess.run([sys.executable, "-m", "postroom", "serve", "--data", str(admin.data)], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "COLUMNS": "250", "NO_COLOR": "1"})
    assert result.returncode == 2, result.stderr
    assert f"error: data: {node} {why}" in flat(result.stderr)
    assert "Traceback" not in result.stderr


def test_a_missing_node_file_still_says_to_run_init(runner, tmp_path: Path) -> None:
    empty = Admin(runner, tmp_path / "nothing")
    assert "run `postroom init" in flat(empty.fails(2, "mailbox", "list").stderr)
