-- postroom schema 4 (PostgreSQL): the outbound queue, as the embedded store's schema 9. A
-- message for remote recipients is queued with the same body as its local copies
-- (message_bodies: stored once), one row per remote recipient, each in the queue of its next
-- hop. Workers on several nodes claim messages with SELECT ... FOR UPDATE SKIP LOCKED and a
-- lease. Times are ISO-8601 UTC text (COLLATE "C": text order is time order).

-- One row per next hop (delivery type + next-hop domain + send connector), made by the first
-- message queued for it; `suspended` is an admin's (postroom queue suspend).
CREATE TABLE queues (
    name          text COLLATE "C" PRIMARY KEY, -- QueueKey.name
    delivery_type text NOT NULL,
    next_hop      text NOT NULL,
    connector     text NOT NULL DEFAULT '',
    suspended     boolean NOT NULL DEFAULT false,
    last_error    text,
    last_error_at text COLLATE "C"
);

-- A queued message. The lease: the worker holding it (lease_holder) until lease_until;
-- crash_count counts its claims not followed by an attempt's end (at 2 it is poison).
CREATE TABLE queue_messages (
    id                text COLLATE "C" PRIMARY KEY, -- the queue id (as in "250 2.6.0 queued as ...")
    body_id           bigint NOT NULL REFERENCES message_bodies (id),
    created_at        text COLLATE "C" NOT NULL,
    sender            text NOT NULL,
    size              bigint NOT NULL,
    envid             text,
    ret               text,
    smtputf8          boolean NOT NULL,
    body_8bit         boolean NOT NULL,
    submitter         text,
    client_ip         text NOT NULL,
    origin_server     text NOT NULL,
    message_id_header text NOT NULL,
    status            text NOT NULL DEFAULT 'active', -- active, suspended, poison
    crash_count       integer NOT NULL DEFAULT 0,
    lease_holder      text,
    lease_until       text COLLATE "C"
);
CREATE INDEX queue_messages_created ON queue_messages (created_at, id);
CREATE INDEX queue_messages_body ON queue_messages (body_id);
CREATE INDEX queue_messages_status ON queue_messages (status);

CREATE TABLE queue_recipients (
    message_id      text COLLATE "C" NOT NULL REFERENCES queue_messages (id) ON DELETE CASCADE,
    position        integer NOT NULL,
    address         text NOT NULL,
    orcpt           text,
    notify          text,
    domain          text NOT NULL,
    queue           text COLLATE "C" NOT NULL REFERENCES queues (name),
    status          text NOT NULL, -- ready, retry (pending); sent, failed, expired (final)
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at text COLLATE "C", -- NULL once final
    last_reply      text,
    last_attempt_at text COLLATE "C",
    delay_notified  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (message_id, position),
    UNIQUE (message_id, address)
);
CREATE INDEX queue_recipients_due ON queue_recipients (next_attempt_at) WHERE status IN ('ready', 'retry');
CREATE INDEX queue_recipients_queue ON queue_recipients (queue, next_attempt_at) WHERE status IN ('ready', 'retry');

-- A body now goes when nothing refers to it any more: neither a mailbox entry nor a queued
-- message, whichever goes last. The body row is locked first (as before), so that a POP3
-- DELE and the end of a delivery removing the last two references at once cannot both miss
-- the other's delete.
CREATE OR REPLACE FUNCTION messages_last_entry_removes_body() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM message_bodies WHERE id = OLD.body_id FOR UPDATE;
    IF NOT EXISTS (SELECT 1 FROM messages WHERE body_id = OLD.body_id)
       AND NOT EXISTS (SELECT 1 FROM queue_messages WHERE body_id = OLD.body_id) THEN
        DELETE FROM message_bodies WHERE id = OLD.body_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER queue_messages_last_reference_removes_body AFTER DELETE ON queue_messages
    FOR EACH ROW EXECUTE FUNCTION messages_last_entry_removes_body();
