-- postroom schema 8 (PostgreSQL): requests to end live sessions (`postroom session end`;
-- Dovecot: doveadm kick), as the embedded store's schema 13. Any node's CLI or API writes a
-- request; the node serving `server`, wherever it runs, takes the requests not answered yet
-- (twice a second), ends the session `session` or every session of `mailbox`, and writes
-- `done_at` and the sessions it ended (`ended`, a JSON array). A request made from a report
-- older than the node (`seen_at`, the report's heartbeat) is answered with nothing ended.
-- Requests live a day. Not configuration: no config bump.
CREATE TABLE session_end_requests (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    server       text COLLATE "C" NOT NULL REFERENCES servers (name) ON DELETE CASCADE,
    session      text,                       -- SERVER-NUMBER, or NULL: every session of `mailbox`
    mailbox      citext,
    seen_at      double precision NOT NULL,  -- Unix seconds
    requested_at text COLLATE "C" NOT NULL,  -- ISO-8601 UTC
    requested_by text NOT NULL,
    done_at      text,                       -- NULL until the node answers
    ended        text NOT NULL DEFAULT '[]',
    CHECK ((session IS NULL) <> (mailbox IS NULL))
);
CREATE INDEX session_end_requests_pending ON session_end_requests (server) WHERE done_at IS NULL;
CREATE INDEX session_end_requests_age ON session_end_requests (requested_at);
