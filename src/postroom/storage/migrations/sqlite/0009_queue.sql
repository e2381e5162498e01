-- postroom schema 9 (SQLite): the outbound queue. A message for remote recipients is queued
-- with the same body as its local copies (message_bodies: stored once), one row per remote
-- recipient, each in the queue of its next hop. Times are ISO-8601 UTC text.

-- One row per next hop (delivery type + next-hop domain + send connector), made by the first
-- message queued for it; `suspended` is an admin's (postroom queue suspend).
CREATE TABLE queues (
    name          TEXT PRIMARY KEY, -- QueueKey.name
    delivery_type TEXT NOT NULL,
    next_hop      TEXT NOT NULL,
    connector     TEXT NOT NULL DEFAULT '',
    suspended     INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    last_error_at TEXT
);

-- A queued message. The lease: the worker holding it (lease_holder) until lease_until;
-- crash_count counts its claims not followed by an attempt's end (at 2 it is poison).
CREATE TABLE queue_messages (
    id                TEXT PRIMARY KEY, -- the queue id (as in "250 2.6.0 queued as ...")
    body_id           INTEGER NOT NULL REFERENCES message_bodies (id),
    created_at        TEXT NOT NULL,
    sender            TEXT NOT NULL,
    size              INTEGER NOT NULL,
    envid             TEXT,
    ret               TEXT,
    smtputf8          INTEGER NOT NULL,
    body_8bit         INTEGER NOT NULL,
    submitter         TEXT,
    client_ip         TEXT NOT NULL,
    origin_server     TEXT NOT NULL,
    message_id_header TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'active', -- active, suspended, poison
    crash_count       INTEGER NOT NULL DEFAULT 0,
    lease_holder      TEXT,
    lease_until       TEXT
);
CREATE INDEX queue_messages_created ON queue_messages (created_at, id);
CREATE INDEX queue_messages_body ON queue_messages (body_id);
CREATE INDEX queue_messages_status ON queue_messages (status);

CREATE TABLE queue_recipients (
    message_id      TEXT NOT NULL REFERENCES queue_messages (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    address         TEXT NOT NULL,
    orcpt           TEXT,
    notify          TEXT,
    domain          TEXT NOT NULL,
    queue           TEXT NOT NULL REFERENCES queues (name),
    status          TEXT NOT NULL, -- ready, retry (pending); sent, failed, expired (final)
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,          -- NULL once final
    last_reply      TEXT,
    last_attempt_at TEXT,
    delay_notified  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, position),
    UNIQUE (message_id, address)
);
-- What the workers look for: pending recipients by due time, and a queue's pending recipients.
CREATE INDEX queue_recipients_due ON queue_recipients (next_attempt_at) WHERE status IN ('ready', 'retry');
CREATE INDEX queue_recipients_queue ON queue_recipients (queue, next_attempt_at) WHERE status IN ('ready', 'retry');

-- A body now goes when nothing refers to it any more: neither a mailbox entry nor a queued
-- message, whichever goes last.
DROP TRIGGER messages_last_entry_removes_body;
CREATE TRIGGER messages_last_entry_removes_body AFTER DELETE ON messages
WHEN NOT EXISTS (SELECT 1 FROM messages WHERE body_id = OLD.body_id)
 AND NOT EXISTS (SELECT 1 FROM queue_messages WHERE body_id = OLD.body_id)
BEGIN
    DELETE FROM message_bodies WHERE id = OLD.body_id;
END;
CREATE TRIGGER queue_messages_last_reference_removes_body AFTER DELETE ON queue_messages
WHEN NOT EXISTS (SELECT 1 FROM messages WHERE body_id = OLD.body_id)
 AND NOT EXISTS (SELECT 1 FROM queue_messages WHERE body_id = OLD.body_id)
BEGIN
    DELETE FROM message_bodies WHERE id = OLD.body_id;
END;
