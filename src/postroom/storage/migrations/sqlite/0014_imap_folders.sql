-- postroom schema 14 (SQLite): IMAP4 folders, as the PostgreSQL schema 9. Every mailbox has
-- folders: INBOX (what SMTP delivers to and POP3 reads) and Sent, Drafts, Trash and Junk
-- (RFC 6154), all subscribed. A message entry lives in one folder under a UID that is never
-- reused while the folder's uidvalidity stays; a message body gains its structure (JSON,
-- computed once when it is stored; for older bodies, when first read). Not configuration:
-- no config bump.

-- The last uidvalidity handed out, store-wide: each folder ever made gets a new one (at
-- least the Unix time, so a mailbox removed and made again never repeats its old values).
CREATE TABLE uidvalidity_counter (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    last INTEGER NOT NULL
);
INSERT INTO uidvalidity_counter (id, last) VALUES (1, CAST(strftime('%s', 'now') AS INTEGER));

-- Names are case-sensitive ("/"-separated), except INBOX, always stored as "INBOX".
CREATE TABLE folders (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id       INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    special_use      TEXT NOT NULL DEFAULT '',
    uidvalidity      INTEGER NOT NULL,
    uidnext          INTEGER NOT NULL DEFAULT 1,
    first_recent_uid INTEGER NOT NULL DEFAULT 1,
    highest_modseq   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (mailbox_id, name)
);

-- Subscribed names (LSUB); a name may be subscribed without existing (RFC 3501 6.3.6).
CREATE TABLE subscriptions (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    PRIMARY KEY (mailbox_id, name)
);

-- Every existing mailbox gets its five folders, each with its own uidvalidity.
WITH boxes AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS rank FROM mailboxes),
     kinds (k, name, special_use) AS (
         VALUES (0, 'INBOX', ''), (1, 'Sent', '\Sent'), (2, 'Drafts', '\Drafts'), (3, 'Trash', '\Trash'),
                (4, 'Junk', '\Junk'))
INSERT INTO folders (mailbox_id, name, special_use, uidvalidity)
    SELECT boxes.id, kinds.name, kinds.special_use,
           (SELECT last FROM uidvalidity_counter) + boxes.rank * 5 + kinds.k + 1
    FROM boxes, kinds ORDER BY boxes.id, kinds.k;
UPDATE uidvalidity_counter SET last = last + 5 * (SELECT count(*) FROM mailboxes);
INSERT INTO subscriptions (mailbox_id, name) SELECT mailbox_id, name FROM folders;

-- Flags: space-separated, sorted, without \Recent; modseq: the folder's highest_modseq when
-- the entry last changed.
ALTER TABLE messages ADD COLUMN folder_id INTEGER REFERENCES folders (id) ON DELETE CASCADE;
ALTER TABLE messages ADD COLUMN uid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN flags TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN modseq INTEGER NOT NULL DEFAULT 0;

-- Existing messages go to their mailbox's INBOX with UIDs 1..n in id (arrival) order.
CREATE TEMP TABLE inbox_uids (id INTEGER PRIMARY KEY, uid INTEGER NOT NULL, folder_id INTEGER NOT NULL);
INSERT INTO inbox_uids (id, uid, folder_id)
    SELECT m.id, row_number() OVER (PARTITION BY m.mailbox_id ORDER BY m.id), f.id
    FROM messages m JOIN folders f ON f.mailbox_id = m.mailbox_id AND f.name = 'INBOX';
UPDATE messages SET uid = (SELECT uid FROM inbox_uids WHERE inbox_uids.id = messages.id),
                    folder_id = (SELECT folder_id FROM inbox_uids WHERE inbox_uids.id = messages.id),
                    modseq = 1;
UPDATE folders SET uidnext = 1 + (SELECT count(*) FROM inbox_uids WHERE inbox_uids.folder_id = folders.id),
                   highest_modseq = 1
    WHERE name = 'INBOX' AND EXISTS (SELECT 1 FROM inbox_uids WHERE inbox_uids.folder_id = folders.id);
DROP TABLE inbox_uids;

CREATE UNIQUE INDEX messages_folder_uid ON messages (folder_id, uid);

-- The structure of a body (postroom.protocol.imap4.structure.describe: JSON text), in a table
-- of its own: a column added to message_bodies would come after the BLOB, and SQLite reads a
-- column past a large BLOB by walking the BLOB's overflow pages (every FETCH would).
CREATE TABLE message_structures (
    body_id   INTEGER PRIMARY KEY REFERENCES message_bodies (id) ON DELETE CASCADE,
    structure TEXT NOT NULL
);
