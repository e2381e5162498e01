-- postroom schema 12 (SQLite): POP3 sessions that ended without logging in, the doctor's
-- evidence beside login_failures: a client that gives up before USER (curl without
-- --ssl-reqd finds no USER in CAPA under secure-login and quits) leaves no refused login.
-- A node counts such sessions by kind between two heartbeats and writes one row per kind.
-- Evidence, not configuration: no foreign keys and no config bump; nodes keep a week.
CREATE TABLE ended_sessions (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,                -- ISO-8601 UTC: the last session's end (text order is time order)
    first_at  TEXT NOT NULL,                -- the first session's end
    server    TEXT NOT NULL,
    service   TEXT NOT NULL,                -- pop3
    remote_ip TEXT NOT NULL,
    binding   TEXT NOT NULL,                -- the binding connected to, e.g. 0.0.0.0:110
    tls       TEXT NOT NULL,                -- none, stls, ssl
    reason    TEXT NOT NULL,                -- tls-not-started, tls-required, quit, bad-credentials, ...
    commands  TEXT NOT NULL,                -- the verbs sent, e.g. CAPA QUIT
    mailbox   TEXT NOT NULL COLLATE NOCASE, -- the name USER/AUTH gave, as sent; '' when none
    count     INTEGER NOT NULL
);
-- The doctor asks for one server's last hour; pruning reads by time.
CREATE INDEX ended_sessions_server ON ended_sessions (server, at);
CREATE INDEX ended_sessions_at ON ended_sessions (at);
