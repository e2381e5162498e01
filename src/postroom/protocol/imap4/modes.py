"""What ENABLE turns on that changes the protocol itself, for the core (how commands parse) and
for the server (how replies are written) alike: UTF8=ACCEPT (RFC 6855) and IMAP4rev2 (RFC 9051).

UTF8=ACCEPT: mailbox names travel as UTF-8 (no modified UTF-7), quoted strings may hold UTF-8,
APPEND takes `UTF8 (~{n})`, and SEARCH may no longer name a CHARSET (RFC 6855 3: BAD).
IMAP4rev2: mailbox names travel as UTF-8 too (RFC 9051 5.1); \\Recent and the RECENT replies,
status item and search keys are gone; SELECT answers a LIST of the mailbox; every FETCH the
server sends of its own carries the UID. Both last for the session (RFC 5161: no DISABLE).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

__all__ = ["Mode", "enable"]

#: The capability names ENABLE turns on here (upper case, as parsed) and how ENABLED spells them.
NAMES = {"UTF8=ACCEPT": "UTF8=ACCEPT", "IMAP4REV2": "IMAP4rev2"}


@dataclass(frozen=True)
class Mode:
    utf8: bool = False  # UTF8=ACCEPT enabled
    rev2: bool = False  # IMAP4rev2 enabled

    @property
    def utf8_names(self) -> bool:
        """Mailbox names are UTF-8 on the wire, both ways."""
        return self.utf8 or self.rev2


def enable(mode: Mode, names: Iterable[str]) -> tuple[Mode, list[str]]:
    """The mode after ENABLE `names` (upper case), and the names it turned on now, as ENABLED
    lists them (a name already on, or not ours, is not listed)."""
    turned = []
    for name in dict.fromkeys(names):
        if name == "UTF8=ACCEPT" and not mode.utf8:
            mode = replace(mode, utf8=True)
        elif name == "IMAP4REV2" and not mode.rev2:
            mode = replace(mode, rev2=True)
        else:
            continue
        turned.append(NAMES[name])
    return mode, turned
