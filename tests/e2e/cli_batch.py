"""Several `postroom` commands in one process, as the harness's set-up runs them.

Each command goes through the CLI's own entry point exactly as `python -m postroom ARGS` would;
only the interpreter start-up and the imports (about 0.4 s a command) are shared.
Usage: cli_batch.py RESULTS.json COMMANDS.json, where COMMANDS is a list of
{"args": [...], "input": str or null, "may_fail": bool}. It stops at the first command that
fails without may_fail, and writes [{"args", "code", "stdout", "stderr"}, ...] to RESULTS.
"""
from __future__ import annotations

import contextlib
import io
import json
import sys

import typer.main

from postroom.cli import app

COMMAND = typer.main.get_command(app)


def run(args: list[str], stdin: str | None) -> dict:
    out, err = io.StringIO(), io.StringIO()
    sys.stdin = io.StringIO(stdin or "")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            COMMAND.main(args, prog_name="postroom")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return {"args": args, "code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def main(results_path: str, commands_path: str) -> None:
    with open(commands_path) as file:
        commands = json.load(file)
    results = []
    for command in commands:
        results.append(run(command["args"], command.get("input")))
        if results[-1]["code"] and not command.get("may_fail"):
            break
    with open(results_path, "w") as file:
        json.dump(results, file)


if __name__ == "__main__":
    main(*sys.argv[1:3])
