-- postroom schema 1 (PostgreSQL): everything the embedded store holds after its schema 6,
-- in one migration. Applied in one transaction by PostgresStore.migrate(), under an advisory
-- lock so that several nodes starting at once migrate one after the other.
--
-- Names that compare case-insensitively (addresses, domains, connector and admin names) are
-- citext, like SQLite's COLLATE NOCASE. Times are ISO-8601 UTC text in one fixed format
-- (COLLATE "C": text order is time order), as in the embedded store, so both backends
-- answer the same queries the same way.
CREATE EXTENSION IF NOT EXISTS citext;

-- One row, bumped in the same transaction as every configuration change; nodes poll it.
CREATE TABLE config_state (
    id      integer PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO config_state (id, version) VALUES (1, 0);

CREATE TABLE servers (
    name text COLLATE "C" PRIMARY KEY,
    fqdn text NOT NULL
);

CREATE TABLE services (
    server  text COLLATE "C" NOT NULL REFERENCES servers (name) ON DELETE CASCADE,
    name    text COLLATE "C" NOT NULL,
    startup text NOT NULL,
    status  text NOT NULL,
    PRIMARY KEY (server, name)
);

CREATE TABLE pop_settings (
    server   text COLLATE "C" PRIMARY KEY REFERENCES servers (name) ON DELETE CASCADE,
    settings text NOT NULL -- JSON: PopSettings.to_dict()
);

CREATE TABLE web_settings (
    server   text COLLATE "C" PRIMARY KEY REFERENCES servers (name) ON DELETE CASCADE,
    settings text NOT NULL -- JSON: WebSettings.to_dict()
);

-- What a running node says about itself; not configuration.
CREATE TABLE node_reports (
    server       text COLLATE "C" PRIMARY KEY REFERENCES servers (name) ON DELETE CASCADE,
    heartbeat_at double precision NOT NULL,
    pid          integer NOT NULL,
    services     text NOT NULL -- JSON
);

-- Receive connectors: unique name per server, in any case; the stored name keeps its case.
CREATE TABLE receive_connectors (
    server   text COLLATE "C" NOT NULL REFERENCES servers (name) ON DELETE CASCADE,
    name     citext NOT NULL,
    settings text NOT NULL, -- JSON: ReceiveConnector.to_dict()
    PRIMARY KEY (server, name)
);

CREATE TABLE domains (
    name citext PRIMARY KEY
);

-- Identity columns never hand out an id twice: a removed mailbox's or message's id never
-- names another one.
CREATE TABLE mailboxes (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address       citext NOT NULL UNIQUE,
    domain        citext NOT NULL,
    display_name  text NOT NULL DEFAULT '',
    password_hash text,
    enabled       boolean NOT NULL DEFAULT true,
    pop_enabled   boolean NOT NULL DEFAULT true,
    imap_enabled  boolean NOT NULL DEFAULT true,
    created_at    text COLLATE "C" NOT NULL
);
CREATE INDEX mailboxes_domain ON mailboxes (domain);

-- Message bodies, in wire form (CRLF lines), exact octets; one body per received message,
-- however many mailboxes it went to. No shared file system: the octets live here.
CREATE TABLE message_bodies (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    size bigint NOT NULL,
    data bytea NOT NULL
);
-- Bodies are already compressed or encoded mail: don't spend CPU compressing them again.
ALTER TABLE message_bodies ALTER COLUMN data SET STORAGE EXTERNAL;

-- Mailbox entries: what POP3 lists (no bytea here, so listing never reads bodies).
CREATE TABLE messages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mailbox_id  bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    body_id     bigint NOT NULL REFERENCES message_bodies (id),
    uidl        text NOT NULL UNIQUE,
    size        bigint NOT NULL,
    received_at text COLLATE "C" NOT NULL
);
CREATE INDEX messages_mailbox ON messages (mailbox_id, id);
CREATE INDEX messages_body ON messages (body_id);

-- A body goes with its last entry, whoever deletes it: POP3 DELE, or the cascade when its
-- mailbox is removed. The body row is locked first, so that two transactions removing the
-- last two entries of one body at once cannot both miss the other's delete (the second one
-- waits, then sees the first one's committed delete and removes the body).
CREATE FUNCTION messages_last_entry_removes_body() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM message_bodies WHERE id = OLD.body_id FOR UPDATE;
    IF NOT EXISTS (SELECT 1 FROM messages WHERE body_id = OLD.body_id) THEN
        DELETE FROM message_bodies WHERE id = OLD.body_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER messages_last_entry_removes_body AFTER DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_last_entry_removes_body();

-- Message tracking (Exchange's Get-MessageTrackingLog). No foreign keys: the log outlives
-- the servers, mailboxes and messages it names.
CREATE TABLE message_tracking (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         text COLLATE "C" NOT NULL,
    event_id   text NOT NULL,
    server     text NOT NULL,
    source     text NOT NULL,
    queue_id   text NOT NULL,
    message_id text NOT NULL,
    sender     citext NOT NULL,
    recipient  citext NOT NULL,
    status     text NOT NULL,
    size       bigint NOT NULL,
    client_ip  text NOT NULL,
    connector  text NOT NULL
);
CREATE INDEX message_tracking_sender ON message_tracking (sender, id);
CREATE INDEX message_tracking_recipient ON message_tracking (recipient, id);
CREATE INDEX message_tracking_message_id ON message_tracking (message_id, id);
CREATE INDEX message_tracking_queue_id ON message_tracking (queue_id, id);
CREATE INDEX message_tracking_event_id ON message_tracking (event_id, id);
CREATE INDEX message_tracking_at ON message_tracking (at);

-- Admin principals, organisation-wide; their API tokens (only SHA-256 of the secret) and
-- console sessions (keyed by SHA-256 of the cookie) go with them.
CREATE TABLE admins (
    name          citext PRIMARY KEY,
    password_hash text,
    roles         text NOT NULL, -- JSON list of role groups
    created_at    text COLLATE "C" NOT NULL
);

CREATE TABLE api_tokens (
    id           text PRIMARY KEY,
    admin        citext NOT NULL REFERENCES admins (name) ON DELETE CASCADE,
    secret_hash  text NOT NULL,
    description  text NOT NULL DEFAULT '',
    created_at   text COLLATE "C" NOT NULL,
    expires_at   text COLLATE "C",
    last_used_at text COLLATE "C"
);
CREATE INDEX api_tokens_admin ON api_tokens (admin, created_at, id);

CREATE TABLE web_sessions (
    id_hash    text PRIMARY KEY,
    admin      citext NOT NULL REFERENCES admins (name) ON DELETE CASCADE,
    csrf_token text NOT NULL,
    created_at text COLLATE "C" NOT NULL,
    expires_at text COLLATE "C" NOT NULL
);
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);
CREATE INDEX web_sessions_admin ON web_sessions (admin);

-- Audit: who did what, where from, and whether it was allowed.
CREATE TABLE audit (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      text COLLATE "C" NOT NULL,
    actor   text NOT NULL,
    action  text NOT NULL,
    target  text NOT NULL,
    before  text, -- JSON
    after   text, -- JSON
    channel text NOT NULL DEFAULT 'cli',
    outcome text NOT NULL DEFAULT 'success',
    detail  text
);
CREATE INDEX audit_target ON audit (target, id);
CREATE INDEX audit_actor ON audit (actor, id);
CREATE INDEX audit_action ON audit (action, id);
CREATE INDEX audit_channel ON audit (channel, id);
CREATE INDEX audit_outcome ON audit (outcome, id);
CREATE INDEX audit_at ON audit (at);

-- Activity counters for the console's dashboard chart (statistics, not configuration).
CREATE TABLE activity (
    server text COLLATE "C" NOT NULL,
    bucket text COLLATE "C" NOT NULL,
    kind   text COLLATE "C" NOT NULL,
    count  bigint NOT NULL,
    PRIMARY KEY (server, bucket, kind)
);
CREATE INDEX activity_bucket ON activity (bucket);

-- Failed logins: the evidence `postroom doctor` shows.
CREATE TABLE login_failures (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        text COLLATE "C" NOT NULL,
    server    text NOT NULL,
    service   text NOT NULL,
    remote_ip text NOT NULL,
    mailbox   citext NOT NULL,
    reason    text NOT NULL
);
CREATE INDEX login_failures_mailbox ON login_failures (mailbox, at);
CREATE INDEX login_failures_at ON login_failures (at);

-- Temporary login blocks after repeated failed logins (times are Unix seconds).
CREATE TABLE login_blocks (
    kind     text NOT NULL,
    value    citext NOT NULL,
    since    double precision NOT NULL,
    until    double precision NOT NULL,
    failures integer NOT NULL,
    service  text NOT NULL,
    server   text NOT NULL,
    PRIMARY KEY (kind, value)
);
