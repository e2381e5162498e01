-- postroom schema 11 (SQLite): a mailbox's Send As grants (`postroom mailbox set ADDRESS
-- --send-as A,B`): the addresses, or *@domain, its authenticated SMTP sessions may use in
-- MAIL FROM and the header From besides its own address. A JSON array of lower-case text.
ALTER TABLE mailboxes ADD COLUMN send_as TEXT NOT NULL DEFAULT '[]';
