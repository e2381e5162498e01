-- postroom schema 9 (PostgreSQL): IMAP4 folders, as the embedded store's schema 14. Every
-- mailbox has folders: INBOX (what SMTP delivers to and POP3 reads) and Sent, Drafts, Trash
-- and Junk (RFC 6154), all subscribed. A message entry lives in one folder under a UID that
-- is never reused while the folder's uidvalidity stays; a delivery takes its UID under the
-- folder row's lock, held to its commit, so commits happen in UID order. A message body
-- gains its structure (JSON, computed once when it is stored; NULL for older bodies:
-- computed when first read). Not configuration: no config bump.

-- uidvalidity: each folder ever made takes a new one from this sequence (no lock, so creating
-- mailboxes on several nodes never waits on it), which starts at the Unix time, so a store made
-- again never repeats its old values. Moving a store moves it past the values it brought.
CREATE SEQUENCE uidvalidity_sequence AS bigint;
SELECT setval('uidvalidity_sequence', extract(epoch FROM now())::bigint);

-- Names are case-sensitive ("/"-separated), except INBOX, always stored as "INBOX".
CREATE TABLE folders (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mailbox_id       bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    name             text COLLATE "C" NOT NULL,
    special_use      text NOT NULL DEFAULT '',
    uidvalidity      bigint NOT NULL,
    uidnext          bigint NOT NULL DEFAULT 1,
    first_recent_uid bigint NOT NULL DEFAULT 1,
    highest_modseq   bigint NOT NULL DEFAULT 0,
    UNIQUE (mailbox_id, name)
);

-- Subscribed names (LSUB); a name may be subscribed without existing (RFC 3501 6.3.6).
CREATE TABLE subscriptions (
    mailbox_id bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    name       text COLLATE "C" NOT NULL,
    PRIMARY KEY (mailbox_id, name)
);

-- Every existing mailbox gets its five folders, each with its own uidvalidity.
INSERT INTO folders (mailbox_id, name, special_use, uidvalidity)
    SELECT m.id, k.name, k.special_use, nextval('uidvalidity_sequence')
    FROM mailboxes m, (VALUES (0, 'INBOX', ''), (1, 'Sent', '\Sent'), (2, 'Drafts', '\Drafts'),
                              (3, 'Trash', '\Trash'), (4, 'Junk', '\Junk')) AS k (n, name, special_use)
    ORDER BY m.id, k.n;
INSERT INTO subscriptions (mailbox_id, name) SELECT mailbox_id, name FROM folders;

-- Flags: space-separated, sorted, without \Recent; modseq: the folder's highest_modseq when
-- the entry last changed.
ALTER TABLE messages ADD COLUMN folder_id bigint REFERENCES folders (id) ON DELETE CASCADE,
                     ADD COLUMN uid bigint NOT NULL DEFAULT 0,
                     ADD COLUMN flags text COLLATE "C" NOT NULL DEFAULT '',
                     ADD COLUMN modseq bigint NOT NULL DEFAULT 0;

-- Existing messages go to their mailbox's INBOX with UIDs 1..n in id (arrival) order.
UPDATE messages m SET folder_id = n.folder_id, uid = n.uid, modseq = 1
    FROM (SELECT m2.id, f.id AS folder_id, row_number() OVER (PARTITION BY m2.mailbox_id ORDER BY m2.id) AS uid
          FROM messages m2 JOIN folders f ON f.mailbox_id = m2.mailbox_id AND f.name = 'INBOX') n
    WHERE n.id = m.id;
UPDATE folders f SET uidnext = 1 + n.count, highest_modseq = 1
    FROM (SELECT folder_id, count(*) AS count FROM messages GROUP BY folder_id) n
    WHERE n.folder_id = f.id;
ALTER TABLE messages ALTER COLUMN folder_id SET NOT NULL;

CREATE UNIQUE INDEX messages_folder_uid ON messages (folder_id, uid);

-- The structure of a body (postroom.protocol.imap4.structure.describe: JSON text).
ALTER TABLE message_bodies ADD COLUMN structure text;
