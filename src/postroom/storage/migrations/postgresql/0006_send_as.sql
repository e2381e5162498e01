-- postroom schema 6 (PostgreSQL): a mailbox's Send As grants, as the embedded store's schema
-- 11: the addresses, or *@domain, its authenticated SMTP sessions may use in MAIL FROM and
-- the header From besides its own address. A JSON array of lower-case text.
ALTER TABLE mailboxes ADD COLUMN send_as text NOT NULL DEFAULT '[]';
