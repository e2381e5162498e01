-- postroom schema 5 (PostgreSQL): DKIM signing keys, as the embedded store's schema 10. One per
-- (accepted domain, algorithm), each published as the TXT record <selector>._domainkey.<domain>.
-- A domain cannot be removed while it has keys (the store says so before the foreign key does).
CREATE TABLE dkim_keys (
    domain      citext NOT NULL REFERENCES domains (name),
    selector    citext NOT NULL,
    algorithm   text COLLATE "C" NOT NULL,  -- rsa-2048 or ed25519
    private_key text COLLATE "C" NOT NULL,  -- PKCS#8 PEM: never shown, logged or audited
    public_key  text COLLATE "C" NOT NULL,  -- base64, the DNS record's p= value
    created_at  text COLLATE "C" NOT NULL,
    PRIMARY KEY (domain, selector),
    UNIQUE (domain, algorithm)
);
