-- postroom schema 3 (PostgreSQL): sending mail out, as the embedded store's schema 8. Send
-- connectors are organisation-wide, unique by name in any case (citext); the transport settings
-- belong to a server, and a server without a row reads as the defaults.
CREATE TABLE send_connectors (
    name     citext PRIMARY KEY,
    settings text NOT NULL -- JSON: SendConnector.to_dict() (the smart-host password sealed, never clear)
);

CREATE TABLE transport_settings (
    server   text COLLATE "C" PRIMARY KEY REFERENCES servers (name) ON DELETE CASCADE,
    settings text NOT NULL -- JSON: TransportSettings.to_dict()
);
