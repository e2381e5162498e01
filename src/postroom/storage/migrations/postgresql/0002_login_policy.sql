-- postroom schema 2 (PostgreSQL): organization-wide settings, as the embedded store's schema 7.
-- One JSON document per name; the first is the login block policy (`postroom security
-- policy`), which replaces the POSTROOM_TRUSTED_NETWORKS / POSTROOM_AUTH_* environment
-- variables. No row: the defaults.
CREATE TABLE organization_settings (
    name     text COLLATE "C" PRIMARY KEY, -- login_policy
    settings text NOT NULL                 -- JSON: LoginPolicy.to_dict()
);
