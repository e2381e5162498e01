-- postroom schema 15 (SQLite): the IMAP4 service and its settings (Exchange's Set-ImapSettings),
-- as the PostgreSQL schema 10. Needs nothing of schema 14 (the IMAP4 folders): the two may be
-- applied in either order.
CREATE TABLE imap_settings (
    server   TEXT PRIMARY KEY REFERENCES servers (name) ON DELETE CASCADE,
    settings TEXT NOT NULL -- JSON: ImapSettings.to_dict()
);

-- Every server gets the imap4 service and its settings, as `init` makes them: stopped with
-- startup manual, Exchange's ports 143 and 993, POP3's certificate (the one `init` made). A
-- server still on the dev profile's POP3 port (127.0.0.1:1110) gets the dev profile's IMAP4
-- ports and a running service, as `init --dev` does. Configuration: bump the version first,
-- while the servers lacking them can still be seen (an empty store: no bump).
UPDATE config_state SET version = version + 1
    WHERE id = 1 AND EXISTS (SELECT 1 FROM servers);
INSERT INTO services (server, name, startup, status)
    SELECT s.name, 'imap4',
           CASE WHEN json_extract(p.settings, '$.bindings') = '["127.0.0.1:1110"]' THEN 'automatic' ELSE 'manual' END,
           CASE WHEN json_extract(p.settings, '$.bindings') = '["127.0.0.1:1110"]' THEN 'running' ELSE 'stopped' END
    FROM servers s LEFT JOIN pop_settings p ON p.server = s.name
    WHERE NOT EXISTS (SELECT 1 FROM services WHERE server = s.name AND name = 'imap4');
-- The defaults spelled out (ImapSettings().to_dict()) rather than '{}', so that a later change
-- of the defaults never silently moves an upgraded server's listeners.
INSERT INTO imap_settings (server, settings)
    SELECT s.name, json_set('{"login_type": "secure-login", "bindings": ["0.0.0.0:143", "[::]:143"], "ssl_bindings": ["0.0.0.0:993", "[::]:993"], "certificate": null, "certificate_key": null, "banner": "The postroom IMAP4 service is ready.", "max_connections": 2147483647, "max_connections_from_single_ip": 2147483647, "max_connections_per_user": 16, "max_command_size": 10240, "authenticated_timeout": 1800, "preauthenticated_timeout": 60, "protocol_log": false, "log_file_roll_over": "daily", "log_per_file_size_quota": 0, "log_max_age": 2592000, "log_max_directory_size": 262144000, "proxy_protocol": false, "proxy_trusted_networks": []}',
        '$.certificate', json_extract(p.settings, '$.certificate'),
        '$.certificate_key', json_extract(p.settings, '$.certificate_key'),
        '$.bindings', json(CASE WHEN json_extract(p.settings, '$.bindings') = '["127.0.0.1:1110"]'
                                THEN '["127.0.0.1:1143"]' ELSE '["0.0.0.0:143", "[::]:143"]' END),
        '$.ssl_bindings', json(CASE WHEN json_extract(p.settings, '$.bindings') = '["127.0.0.1:1110"]'
                                    THEN '["127.0.0.1:1993"]' ELSE '["0.0.0.0:993", "[::]:993"]' END))
    FROM servers s LEFT JOIN pop_settings p ON p.server = s.name
    WHERE NOT EXISTS (SELECT 1 FROM imap_settings WHERE server = s.name);
