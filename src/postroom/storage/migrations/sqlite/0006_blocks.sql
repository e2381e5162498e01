-- postroom schema 6 (SQLite): temporary login blocks after repeated failed logins.
-- Nodes write the blocks they start with their heartbeat and read the list back, so a block
-- cleared by `postroom security blocks --clear` (another process) stops applying within a
-- heartbeat, on every node. Times are Unix seconds. Not configuration: no config bump.
CREATE TABLE login_blocks (
    kind     TEXT NOT NULL,                 -- source, mailbox
    value    TEXT NOT NULL COLLATE NOCASE,  -- IP address or mailbox name
    since    REAL NOT NULL,
    until    REAL NOT NULL,
    failures INTEGER NOT NULL,
    service  TEXT NOT NULL,                 -- pop3, smtp
    server   TEXT NOT NULL,                 -- the node that started it
    PRIMARY KEY (kind, value)
);
