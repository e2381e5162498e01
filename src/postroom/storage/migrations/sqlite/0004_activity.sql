-- postroom schema 4 (SQLite): activity counters for the console's dashboard chart.
-- Each node adds what it counted (POP3 logins that succeeded or failed, SMTP messages
-- accepted) per 10-minute bucket, about once a second. Statistics, not configuration, and
-- no foreign key: like message tracking, the counts outlive the server they name.
CREATE TABLE activity (
    server TEXT NOT NULL,
    bucket TEXT NOT NULL,   -- ISO-8601 UTC start of the 10-minute bucket (one format: text order is time order)
    kind   TEXT NOT NULL,   -- pop3-login-ok, pop3-login-failed, smtp-delivered
    count  INTEGER NOT NULL,
    PRIMARY KEY (server, bucket, kind)
);
-- list_activity for every server reads by time.
CREATE INDEX activity_bucket ON activity (bucket);
