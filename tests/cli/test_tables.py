"""CLI tables never cut a value. Piped or redirected (what CliRunner is), a table keeps its full
width: one line per row, however narrow the terminal would be. On a terminal (TTY_COMPATIBLE=1
tells Rich it is one) a table that fits is printed as such; one too wide is printed as one
record per row, psql's `\\x auto`, each line within the terminal."""
from __future__ import annotations

import re

from .conftest import Admin

ANSI = re.compile(r"\x1b\[[0-9;]*m")
LONG_BANNER = "Welcome to the order intake mail service of Example Corporation; every session is logged"


def lines(admin: Admin, *args: str, columns: int, terminal: bool) -> list[str]:
    env = {"COLUMNS": str(columns), **({"TTY_COMPATIBLE": "1", "TERM": "xterm"} if terminal else {})}
    result = admin(*args, env=env)
    assert result.exit_code == 0, result.output
    return ANSI.sub("", result.stdout).splitlines()


def records(shown: list[str]) -> list[dict[str, str]]:
    """The name/value records printed one box each; a value folded over lines joined by spaces."""
    found: list[dict[str, str]] = []
    name = ""
    for line in shown:
        if line.startswith(("┏", "┌")):
            found.append({})
        elif line.count("│") == 3:
            name = line.split("│")[1].strip() or name
            value = line.split("│")[2].strip()
            found[-1][name] = " ".join(filter(None, [found[-1].get(name, ""), value]))
    return found


def test_piped_tables_keep_their_full_width_one_row_a_line(admin: Admin) -> None:
    admin.ok("connector", "set", "Client EX01", "--banner", LONG_BANNER)
    listed = lines(admin, "connector", "list", columns=80, terminal=False)
    assert max(map(len, listed)) > 80 and not any("…" in line for line in listed)
    [default] = [line for line in listed if "Default EX01" in line]
    assert re.search(r"│ EX01 +│ Default EX01 +│ yes +│ 127\.0\.0\.1:2525 +│ tls, basic, basic-require-tls +│ "
                     r"anonymous, users +│", default), default
    # the audit log: each change on one line, its values whole
    [change] = [line for line in lines(admin, "log", "audit", columns=80, terminal=False) if "connector.set" in line]
    assert f"banner={LONG_BANNER}" in change and "server/EX01/connector/Client EX01" in change


def test_a_table_too_wide_for_the_terminal_becomes_one_record_per_row(admin: Admin) -> None:
    shown = lines(admin, "connector", "list", columns=80, terminal=True)
    assert max(map(len, shown)) <= 80 and not any("…" in line for line in shown)
    by_name = {record["name"]: record for record in records(shown)}
    default, client = by_name["Default EX01"], by_name["Client EX01"]
    assert default["permission groups"] == "anonymous, users" and client["auth"] == "tls, basic, basic-require-tls"
    assert default["bindings"] == "127.0.0.1:2525" and default["state"] and default["errors"] == "-"


def test_a_table_that_fits_the_terminal_stays_a_table(admin: Admin) -> None:
    shown = lines(admin, "connector", "list", columns=250, terminal=True)
    header = next(line for line in shown if "permission groups" in line)
    assert re.search(r"server +┃ name +┃ enabled +┃ bindings +┃ auth +┃ permission groups +┃", header), header
    assert sum("Default EX01" in line for line in shown) == 1


def test_show_on_a_narrow_terminal_folds_a_long_value_and_keeps_it_whole(admin: Admin) -> None:
    admin.ok("pop", "set", "--banner", LONG_BANNER)
    shown = lines(admin, "pop", "show", columns=60, terminal=True)
    assert max(map(len, shown)) <= 60 and not any("…" in line for line in shown)
    [pop] = records(shown)
    assert pop["banner"] == LONG_BANNER and pop["authenticated-timeout"] == "30m"
