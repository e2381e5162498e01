-- postroom schema 7 (PostgreSQL): POP3 sessions that ended without logging in, as the
-- embedded store's schema 12: the doctor's evidence beside login_failures, one row per kind
-- of ending a node counted between two heartbeats. Evidence, not configuration.
CREATE TABLE ended_sessions (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        text COLLATE "C" NOT NULL,
    first_at  text COLLATE "C" NOT NULL,
    server    text COLLATE "C" NOT NULL,
    service   text NOT NULL,
    remote_ip text NOT NULL,
    binding   text NOT NULL,
    tls       text NOT NULL,
    reason    text NOT NULL,
    commands  text NOT NULL,
    mailbox   citext NOT NULL,
    count     integer NOT NULL
);
CREATE INDEX ended_sessions_server ON ended_sessions (server, at);
CREATE INDEX ended_sessions_at ON ended_sessions (at);
