-- postroom schema 7 (SQLite): organization-wide settings, one JSON document per name. The
-- first is the login block policy (`postroom security policy`), which replaces the
-- POSTROOM_TRUSTED_NETWORKS / POSTROOM_AUTH_* environment variables. No row: the defaults.
CREATE TABLE organization_settings (
    name     TEXT PRIMARY KEY, -- login_policy
    settings TEXT NOT NULL     -- JSON: LoginPolicy.to_dict()
);
