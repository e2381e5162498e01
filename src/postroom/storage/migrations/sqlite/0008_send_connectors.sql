-- postroom schema 8 (SQLite): sending mail out. Send connectors are organisation-wide (Exchange's
-- New-SendConnector), unique by name in any case; the transport settings (Set-TransportService)
-- belong to a server: a server without a row reads as the defaults, so stores made before this
-- schema need nothing filled in.
CREATE TABLE send_connectors (
    name     TEXT NOT NULL COLLATE NOCASE PRIMARY KEY,
    settings TEXT NOT NULL -- JSON: SendConnector.to_dict() (the smart-host password sealed, never clear)
);

CREATE TABLE transport_settings (
    server   TEXT PRIMARY KEY REFERENCES servers (name) ON DELETE CASCADE,
    settings TEXT NOT NULL -- JSON: TransportSettings.to_dict()
);
