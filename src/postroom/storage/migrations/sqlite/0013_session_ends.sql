-- postroom schema 13 (SQLite): requests to end live sessions (`postroom session end`; Dovecot:
-- doveadm kick), as the PostgreSQL schema 8. The node serving `server` takes the requests
-- not answered yet (twice a second), ends the session `session` or every session of
-- `mailbox`, and writes `done_at` and the sessions it ended (`ended`, a JSON array). A
-- request made from a report older than the node (`seen_at`, the report's heartbeat) is
-- answered with nothing ended. Requests live a day. Not configuration: no config bump.
CREATE TABLE session_end_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    server       TEXT NOT NULL REFERENCES servers (name) ON DELETE CASCADE,
    session      TEXT,                  -- SERVER-NUMBER, or NULL: every session of `mailbox`
    mailbox      TEXT COLLATE NOCASE,
    seen_at      REAL NOT NULL,         -- Unix seconds
    requested_at TEXT NOT NULL,         -- ISO-8601 UTC
    requested_by TEXT NOT NULL,
    done_at      TEXT,                  -- NULL until the node answers
    ended        TEXT NOT NULL DEFAULT '[]',
    CHECK ((session IS NULL) <> (mailbox IS NULL))
);
CREATE INDEX session_end_requests_pending ON session_end_requests (server) WHERE done_at IS NULL;
CREATE INDEX session_end_requests_age ON session_end_requests (requested_at);
