-- postroom schema 5 (SQLite): failed logins, the evidence `postroom doctor` shows.
-- Each node records the POP3 and SMTP logins it refused (who tried which mailbox from where,
-- and why), buffered in memory and written with its heartbeat. Evidence, not configuration:
-- no foreign keys (rows outlive the mailbox and server they name) and no config bump.
CREATE TABLE login_failures (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,                -- ISO-8601 UTC (one format: text order is time order)
    server    TEXT NOT NULL,
    service   TEXT NOT NULL,                -- pop3, smtp
    remote_ip TEXT NOT NULL,
    mailbox   TEXT NOT NULL COLLATE NOCASE, -- the name tried, as the client sent it
    reason    TEXT NOT NULL                 -- bad-credentials, tls-required, pop-disabled, ...
);
-- The doctor asks for one mailbox's last hour; pruning and the unfiltered list read by time.
CREATE INDEX login_failures_mailbox ON login_failures (mailbox, at);
CREATE INDEX login_failures_at ON login_failures (at);
