"""Every test process, including pytest-xdist's workers (which set COLUMNS=80 and LINES=24):
the CLI's Rich console must size itself from the terminal each test gives it (CliRunner's
COLUMNS), not from a width fixed when postroom.cli_output is first imported."""
from __future__ import annotations

import os

for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)
