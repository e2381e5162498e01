-- postroom schema 10 (SQLite): DKIM signing keys (`postroom domain dkim new`), one per
-- (accepted domain, algorithm), each published as the TXT record <selector>._domainkey.<domain>.
-- A domain cannot be removed while it has keys (the store says so before the foreign key does).
CREATE TABLE dkim_keys (
    domain      TEXT NOT NULL COLLATE NOCASE REFERENCES domains (name),
    selector    TEXT NOT NULL COLLATE NOCASE,
    algorithm   TEXT NOT NULL,  -- rsa-2048 or ed25519
    private_key TEXT NOT NULL,  -- PKCS#8 PEM: never shown, logged or audited
    public_key  TEXT NOT NULL,  -- base64, the DNS record's p= value
    created_at  TEXT NOT NULL,
    PRIMARY KEY (domain, selector),
    UNIQUE (domain, algorithm)
);
