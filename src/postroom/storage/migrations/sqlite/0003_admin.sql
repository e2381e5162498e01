-- postroom schema 3 (SQLite): admin principals, their API tokens and console sessions, the
-- admin service's settings per server, and an audit log that records the channel and the
-- outcome of each action. Applied in one transaction with foreign keys ON (see 0002).

-- Admin principals, organisation-wide. Names compare case-insensitively.
CREATE TABLE admins (
    name          TEXT PRIMARY KEY COLLATE NOCASE,
    password_hash TEXT,          -- argon2id; NULL: cannot sign in with a password
    roles         TEXT NOT NULL, -- JSON list of role groups
    created_at    TEXT NOT NULL  -- ISO-8601, UTC
);

-- API tokens: `id` is the public half of the bearer token; only SHA-256(secret) is kept.
-- The admin columns below are NOCASE like the key they reference, so that filtering by
-- admin matches the way the foreign key (and its cascade) does.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    admin        TEXT NOT NULL COLLATE NOCASE REFERENCES admins (name) ON DELETE CASCADE,
    secret_hash  TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    expires_at   TEXT, -- NULL: never
    last_used_at TEXT
);
CREATE INDEX api_tokens_admin ON api_tokens (admin, created_at, id);

-- Console sessions, keyed by SHA-256 of the cookie value.
CREATE TABLE web_sessions (
    id_hash    TEXT PRIMARY KEY,
    admin      TEXT NOT NULL COLLATE NOCASE REFERENCES admins (name) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL -- ISO-8601, UTC, one format: text order is time order
);
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);
CREATE INDEX web_sessions_admin ON web_sessions (admin); -- for the cascade from admins

-- The admin service (REST API and console) of each server.
CREATE TABLE web_settings (
    server   TEXT PRIMARY KEY REFERENCES servers (name) ON DELETE CASCADE,
    settings TEXT NOT NULL -- JSON: WebSettings.to_dict()
);

-- Audit: where an action came from and whether it was allowed. Existing rows were all
-- made by the CLI and succeeded, which is what the defaults say.
ALTER TABLE audit ADD COLUMN channel TEXT NOT NULL DEFAULT 'cli';     -- cli, api, console
ALTER TABLE audit ADD COLUMN outcome TEXT NOT NULL DEFAULT 'success'; -- success, refused
ALTER TABLE audit ADD COLUMN detail TEXT;                             -- why it was refused
-- One index per filter of list_audit (target has one since schema 1); each ends with id
-- for "newest first, limit N".
CREATE INDEX audit_actor ON audit (actor, id);
CREATE INDEX audit_action ON audit (action, id);
CREATE INDEX audit_channel ON audit (channel, id);
CREATE INDEX audit_outcome ON audit (outcome, id);
CREATE INDEX audit_at ON audit (at);

-- Every server gets the admin service (startup automatic, running, as a new install has
-- it) where it is missing, and its settings. Both are configuration changes, so bump the
-- version first, while the servers lacking them can still be seen (an empty store: no bump).
UPDATE config_state SET version = version + 1
    WHERE id = 1 AND EXISTS (SELECT 1 FROM servers);
INSERT INTO services (server, name, startup, status)
    SELECT s.name, 'admin', 'automatic', 'running' FROM servers s
    WHERE NOT EXISTS (SELECT 1 FROM services WHERE server = s.name AND name = 'admin');
-- The defaults spelled out (WebSettings().to_dict()) rather than '{}', so that a later
-- change of the defaults never silently moves an upgraded server's console.
INSERT INTO web_settings (server, settings)
    SELECT name, '{"bindings": ["0.0.0.0:443", "[::]:443"], "http_bindings": [], "session_timeout": 28800}'
    FROM servers;
