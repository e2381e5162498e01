"""The IMAP4 settings of a server (Exchange's Set-ImapSettings): the statements and row
conversions both backends use (`?` placeholders; see storage/sql). One JSON row per server, as
POP3's; a server without a row (none should lack one: the migration and add_server write it)
reads as the defaults."""
from __future__ import annotations

import json
from typing import Any, Sequence

from ...errors import NotFound, ValidationError
from ...model import ImapSettings

GET = "SELECT s.name, i.settings FROM servers s LEFT JOIN imap_settings i ON i.server = s.name WHERE s.name = ?"
PUT = ("INSERT INTO imap_settings (server, settings) VALUES (?, ?)"
       " ON CONFLICT (server) DO UPDATE SET settings = excluded.settings")


def settings_json(settings: ImapSettings) -> str:
    """The JSON to store, after checking the settings the way they will be read back."""
    if not isinstance(settings, ImapSettings):
        raise ValidationError("imap", f"must be ImapSettings, not {type(settings).__name__}")
    return json.dumps(ImapSettings.from_dict(settings.to_dict()).to_dict())


def settings_row(server: str, row: Sequence[Any] | None) -> ImapSettings:
    if row is None:
        raise NotFound("server", server)
    return ImapSettings() if row[1] is None else ImapSettings.from_dict(json.loads(row[1]))
