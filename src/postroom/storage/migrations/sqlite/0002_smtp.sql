-- postroom schema 2 (SQLite): receive connectors, messages stored once for several
-- recipients, message tracking, and the smtp service. Applied in one transaction by
-- SqliteStore.migrate(), on a connection with foreign keys ON (PRAGMA foreign_keys cannot
-- change inside a transaction), so every step below is valid with foreign keys enforced.

-- Receive connectors (Exchange's Set-ReceiveConnector): unique name per server, any case.
CREATE TABLE receive_connectors (
    server   TEXT NOT NULL REFERENCES servers (name) ON DELETE CASCADE,
    name     TEXT NOT NULL COLLATE NOCASE,
    settings TEXT NOT NULL, -- JSON: ReceiveConnector.to_dict()
    PRIMARY KEY (server, name)
);

-- Message bodies, in wire form (CRLF lines), exact octets; one body per received message,
-- however many mailboxes it went to. The BLOB is the last column.
CREATE TABLE message_bodies (
    id   INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    data BLOB NOT NULL
);

-- Every existing message becomes its own body, under the message's own id.
INSERT INTO message_bodies (id, size, data) SELECT id, size, data FROM messages;

-- Mailbox entries: what POP3 lists. No BLOB here, so listing a mailbox never reads bodies.
-- AUTOINCREMENT: a deleted message's id is never reused (the sequence is carried over below).
CREATE TABLE messages_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id  INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    body_id     INTEGER NOT NULL REFERENCES message_bodies (id),
    uidl        TEXT NOT NULL UNIQUE,
    size        INTEGER NOT NULL,
    received_at TEXT NOT NULL
);
INSERT INTO messages_new (id, mailbox_id, body_id, uidl, size, received_at)
    SELECT id, mailbox_id, id, uidl, size, received_at FROM messages;

-- Keep the id sequence: ids of messages deleted before this migration stay unused. DROP
-- TABLE removes the old table's row, RENAME carries the new one's.
DELETE FROM sqlite_sequence WHERE name = 'messages_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'messages_new', seq FROM sqlite_sequence WHERE name = 'messages';

DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_mailbox ON messages (mailbox_id, id);
CREATE INDEX messages_body ON messages (body_id);

-- A body goes with its last entry, whoever deletes it: POP3 DELE, or ON DELETE CASCADE
-- when its mailbox is removed (SQLite fires triggers for cascaded deletes).
CREATE TRIGGER messages_last_entry_removes_body AFTER DELETE ON messages
WHEN NOT EXISTS (SELECT 1 FROM messages WHERE body_id = OLD.body_id)
BEGIN
    DELETE FROM message_bodies WHERE id = OLD.body_id;
END;

-- Message tracking (Exchange's Get-MessageTrackingLog). Not configuration, no foreign keys:
-- the log outlives the servers, mailboxes and messages it names.
CREATE TABLE message_tracking (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL, -- ISO-8601, UTC
    event_id   TEXT NOT NULL, -- RECEIVE, DELIVER, FAIL
    server     TEXT NOT NULL,
    source     TEXT NOT NULL,
    queue_id   TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sender     TEXT NOT NULL COLLATE NOCASE,
    recipient  TEXT NOT NULL COLLATE NOCASE,
    status     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    client_ip  TEXT NOT NULL,
    connector  TEXT NOT NULL
);
-- One index per filter of list_tracking; each ends with id for "newest first, limit N".
CREATE INDEX message_tracking_sender ON message_tracking (sender, id);
CREATE INDEX message_tracking_recipient ON message_tracking (recipient, id);
CREATE INDEX message_tracking_message_id ON message_tracking (message_id, id);
CREATE INDEX message_tracking_queue_id ON message_tracking (queue_id, id);
CREATE INDEX message_tracking_event_id ON message_tracking (event_id, id);
CREATE INDEX message_tracking_at ON message_tracking (at);

-- As in Exchange, every server has SMTP with startup automatic: add the service where it
-- is missing (status stopped). Servers gaining it is a configuration change, so bump the
-- version first, while the missing rows can still be seen.
UPDATE config_state SET version = version + 1
    WHERE id = 1 AND EXISTS (
        SELECT 1 FROM servers s
        WHERE NOT EXISTS (SELECT 1 FROM services WHERE server = s.name AND name = 'smtp')
    );
INSERT INTO services (server, name, startup, status)
    SELECT s.name, 'smtp', 'automatic', 'stopped' FROM servers s
    WHERE NOT EXISTS (SELECT 1 FROM services WHERE server = s.name AND name = 'smtp');
