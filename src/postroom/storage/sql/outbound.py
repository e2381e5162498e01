"""Send connectors and transport settings: the checks, row conversions and statements both
backends use (`?` placeholders; see storage/sql). Send connectors are organisation-wide, unique
by name in any case; a server's transport settings read as the defaults until first written.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

from ...errors import NotFound, ValidationError
from ...model import SendConnector, TransportSettings

SEND_CONNECTOR_COLUMNS = "SELECT name, settings FROM send_connectors"
LIST_SEND_CONNECTORS = f"{SEND_CONNECTOR_COLUMNS} ORDER BY lower(name), name"
GET_SEND_CONNECTOR = f"{SEND_CONNECTOR_COLUMNS} WHERE name = ?"
INSERT_SEND_CONNECTOR = "INSERT INTO send_connectors (name, settings) VALUES (?, ?)"
UPDATE_SEND_CONNECTOR = "UPDATE send_connectors SET settings = ? WHERE name = ?"
DELETE_SEND_CONNECTOR = "DELETE FROM send_connectors WHERE name = ?"
# the server's row, or none (defaults); no servers row: NotFound
GET_TRANSPORT = "SELECT s.name, t.settings FROM servers s LEFT JOIN transport_settings t ON t.server = s.name" \
                " WHERE s.name = ?"
PUT_TRANSPORT = ("INSERT INTO transport_settings (server, settings) VALUES (?, ?)"
                 " ON CONFLICT (server) DO UPDATE SET settings = excluded.settings")


def send_connector_settings(connector: SendConnector) -> str:
    """The JSON to store, after checking the connector the way it will be read back."""
    if not isinstance(connector, SendConnector):
        raise ValidationError("connector", f"must be a SendConnector, not {type(connector).__name__}")
    checked = SendConnector.from_dict(connector.to_dict())
    return json.dumps(checked.to_dict())


def send_connector_row(row: Sequence[Any]) -> SendConnector:
    name, settings = row
    data = json.loads(settings)
    data["name"] = name  # the key column is the truth
    return SendConnector.from_dict(data)


def send_connector_missing(name: str) -> NotFound:
    return NotFound("send connector", name)


def send_connector_taken(name: str) -> str:
    return f"send connector {name!r} already exists"


def transport_settings_json(settings: TransportSettings) -> str:
    if not isinstance(settings, TransportSettings):
        raise ValidationError("settings", f"must be TransportSettings, not {type(settings).__name__}")
    return json.dumps(TransportSettings.from_dict(settings.to_dict()).to_dict())


def transport_settings(server: str, row: Sequence[Any] | None) -> TransportSettings:
    if row is None:
        raise NotFound("server", server)
    return TransportSettings() if row[1] is None else TransportSettings.from_dict(json.loads(row[1]))
