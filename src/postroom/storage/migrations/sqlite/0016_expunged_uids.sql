-- postroom schema 16 (SQLite): the record of expunged UIDs, as the PostgreSQL schema 11.
-- QRESYNC (RFC 7162) tells a client that reconnects which of the UIDs it knew were expunged
-- since the modseq it last saw. Every removal from a folder (EXPUNGE, UID EXPUNGE, CLOSE, MOVE,
-- a POP3 deletion from INBOX, INBOX's messages leaving it on RENAME) takes the folder's next
-- modseq and writes each removed UID here with it, in the same transaction. The record is
-- bounded: a folder keeps its newest EXPUNGE_RECORD entries (storage/sql/folders.py); older
-- ones are pruned whole (all UIDs of one modseq go together) and expunged_floor rises to the
-- highest modseq pruned. A folder's record is complete above its expunged_floor: asked for
-- older expunges, the store says so and the server answers from the UIDs that still exist.
-- A deleted folder takes its record with it. Not configuration: no config bump.
CREATE TABLE expunged_uids (
    folder_id INTEGER NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    modseq    INTEGER NOT NULL,
    uid       INTEGER NOT NULL,
    PRIMARY KEY (folder_id, modseq, uid)
) WITHOUT ROWID;

-- Expunges made before this version were not recorded: the record of an existing folder
-- starts at its current modseq.
ALTER TABLE folders ADD COLUMN expunged_floor INTEGER NOT NULL DEFAULT 0;
UPDATE folders SET expunged_floor = highest_modseq;
