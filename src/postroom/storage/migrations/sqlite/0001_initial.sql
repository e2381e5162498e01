-- postroom schema 1 (SQLite). Applied in one transaction by SqliteStore.migrate().

-- One row, bumped in the same transaction as every configuration change; nodes poll it.
CREATE TABLE config_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO config_state (id, version) VALUES (1, 0);

CREATE TABLE servers (
    name TEXT PRIMARY KEY,
    fqdn TEXT NOT NULL
);

CREATE TABLE services (
    server  TEXT NOT NULL REFERENCES servers (name) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    startup TEXT NOT NULL,
    status  TEXT NOT NULL,
    PRIMARY KEY (server, name)
);

CREATE TABLE pop_settings (
    server   TEXT PRIMARY KEY REFERENCES servers (name) ON DELETE CASCADE,
    settings TEXT NOT NULL -- JSON: PopSettings.to_dict()
);

-- What a running node says about itself; not configuration.
CREATE TABLE node_reports (
    server       TEXT PRIMARY KEY REFERENCES servers (name) ON DELETE CASCADE,
    heartbeat_at REAL NOT NULL,
    pid          INTEGER NOT NULL,
    services     TEXT NOT NULL -- JSON
);

CREATE TABLE domains (
    name TEXT PRIMARY KEY COLLATE NOCASE
);

-- AUTOINCREMENT: ids are never reused, so a removed mailbox's id never names another one.
CREATE TABLE mailboxes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    address       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    domain        TEXT NOT NULL COLLATE NOCASE,
    display_name  TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    enabled       INTEGER NOT NULL DEFAULT 1,
    pop_enabled   INTEGER NOT NULL DEFAULT 1,
    imap_enabled  INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);
CREATE INDEX mailboxes_domain ON mailboxes (domain);

-- Wire form (CRLF lines), exact octets. The BLOB is the last column so that listing a
-- mailbox never reads message bodies. AUTOINCREMENT: a deleted message's id is never reused.
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id  INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    uidl        TEXT NOT NULL UNIQUE,
    size        INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    data        BLOB NOT NULL
);
CREATE INDEX messages_mailbox ON messages (mailbox_id, id);

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before TEXT, -- JSON
    after  TEXT  -- JSON
);
CREATE INDEX audit_target ON audit (target, id);
