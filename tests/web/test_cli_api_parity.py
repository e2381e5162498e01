"""The CLI and the REST API give the same result for the same operation.

One table: each row is a command line (run with --json) and the API request that means the
same, done on two copies of one fresh install. The JSON must be equal, apart from the few
values that necessarily differ (creation times, token ids and secrets, who acted and through
which channel, latencies, the data directory a fix names). Refusals must agree too: the same
kind of error, naming the same field. A verdict row (the doctor, the tests) exits 1 when a check
failed and still prints its JSON.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from postroom.cli import app as cli_app

from queue_support import ACTIVE_ID, PARTNER, SUSPENDED_ID
from .conftest import SERVER

S = f"/api/v1/servers/{SERVER}"
CLI_ENV = {"COLUMNS": "250", "POSTROOM_DATA": None, "NO_COLOR": "1"}
EXIT_STATUS = {2: 400, 3: 404, 4: 409, 5: 403}  # the CLI's exit codes and the API's statuses, per error kind


@dataclass(frozen=True)
class Step:
    cli: tuple[str, ...]
    method: str
    path: str
    body: Any = None
    stdin: str | None = None


@dataclass(frozen=True)
class Row:
    steps: tuple[Step, ...]  # the last step's results are compared
    ignore: frozenset[str] = field(default_factory=frozenset)  # keys whose values necessarily differ
    verdict: bool = False  # exit status 1 means "a check failed", with the JSON on stdout


def row(*cli: str, method: str = "GET", path: str, body: Any = None, stdin: str | None = None,
        ignore: tuple[str, ...] = (), before: tuple[Step, ...] = (), verdict: bool = False) -> Row:
    return Row((*before, Step(cli, method, path, body, stdin)), frozenset(ignore), verdict)


POP_SET = Step(("pop", "set", "--banner", "hello there"), "PATCH", f"{S}/pop-settings", {"banner": "hello there"})
SEND_NEW = Step(("send-connector", "new", "Internet", "--address-spaces", "*"), "POST", "/api/v1/send-connectors",
                {"name": "Internet", "address_spaces": ["*"]})
WHO_AND_WHEN = ("id", "at", "actor", "channel")
PARTNER_QUEUE = PARTNER.name
QUEUE_SUSPEND = Step(("queue", "suspend", PARTNER_QUEUE), "POST", f"/api/v1/queues/{PARTNER_QUEUE}/suspend")
NEW_KEY = ("created_at", "txt_value", "txt_strings")
NEW_RSA_KEY = Step(("domain", "dkim", "new", "example.com", "--selector", "r1"), "POST",
                   "/api/v1/domains/example.com/dkim", {"selector": "r1"})
ALICE = "alice@example.com"
ALICE_PASSWORD = "alice's mailbox password\n"  # conftest.MAILBOX_USER

ROWS: dict[str, Row] = {
    # servers
    "pop show": row("pop", "show", path=f"{S}/pop-settings"),
    "pop set": row("pop", "set", "--login-type", "plain-text-login", "--bindings", "127.0.0.1:1110,127.0.0.1:1111",
                   "--max-command-size", "100", "--authenticated-timeout", "10m", "--protocol-log", "enabled",
                   method="PATCH", path=f"{S}/pop-settings",
                   body={"login_type": "plain-text-login", "bindings": ["127.0.0.1:1110", "127.0.0.1:1111"],
                         "max_command_size": 100, "authenticated_timeout": "10m", "protocol_log": True}),
    "pop set log limits": row("pop", "set", "--protocol-log", "enabled", "--log-file-roll-over", "weekly",
                              "--log-per-file-size-quota", "5MB", "--log-max-age", "7.00:00:00",
                              "--log-max-directory-size", "unlimited", method="PATCH", path=f"{S}/pop-settings",
                              body={"protocol_log": True, "log_file_roll_over": "weekly",
                                    "log_per_file_size_quota": "5MB", "log_max_age": "7.00:00:00",
                                    "log_max_directory_size": "unlimited"}),
    "imap show": row("imap", "show", path=f"{S}/imap-settings"),
    "imap set": row("imap", "set", "--login-type", "plain-text-authentication",
                    "--bindings", "127.0.0.1:1143,[::1]:1143",
                    "--max-command-size", "16384", "--authenticated-timeout", "1h", "--protocol-log", "enabled",
                    "--log-max-age", "7d", method="PATCH", path=f"{S}/imap-settings",
                    body={"login_type": "plain-text-authentication", "bindings": ["127.0.0.1:1143", "[::1]:1143"],
                          "max_command_size": 16384, "authenticated_timeout": "1h", "protocol_log": True,
                          "log_max_age": "7d"}),
    "imap set clash": row("imap", "set", "--ssl-bindings", "127.0.0.1:1995", method="PATCH", path=f"{S}/imap-settings",
                          body={"ssl_bindings": ["127.0.0.1:1995"]}),
    "mailbox set imap": row("mailbox", "set", ALICE, "--imap", "disabled", method="PATCH",
                            path=f"/api/v1/mailboxes/{ALICE}", body={"imap_enabled": False}),
    "service list": row("service", "list", path=f"{S}/services"),
    "service list all": row("service", "list", "--server", "all", path="/api/v1/servers/all/services"),
    "service set": row("service", "set", "pop3", "--startup", "manual", method="PATCH", path=f"{S}/services/pop3",
                       body={"startup": "manual"}),
    "service stop": row("service", "stop", "pop3", method="POST", path=f"{S}/services/pop3/stop"),
    "service start all": row("service", "start", "smtp", "--server", "all", method="POST",
                             path="/api/v1/servers/all/services/smtp/start"),
    "service restart": row("service", "restart", "pop3", method="POST", path=f"{S}/services/pop3/restart"),
    "web show": row("web", "show", path=f"{S}/web-settings"),
    "web set": row("web", "set", "--session-timeout", "1h", "--http-bindings", "127.0.0.1:8080,127.0.0.1:8081",
                   method="PATCH", path=f"{S}/web-settings",
                   body={"session_timeout": "1h", "http_bindings": ["127.0.0.1:8080", "127.0.0.1:8081"]}),
    "connector list": row("connector", "list", path=f"{S}/receive-connectors"),
    "connector show": row("connector", "show", f"Client {SERVER}", path=f"{S}/receive-connectors/Client {SERVER}"),
    "connector new": row("connector", "new", "Relay", "--bindings", "127.0.0.1:2526", "--max-message-size", "10MB",
                         "--permission-groups", "anonymous", "--remote-ip-ranges", "192.0.2.0/24",
                         method="POST", path=f"{S}/receive-connectors",
                         body={"name": "Relay", "bindings": ["127.0.0.1:2526"], "max_message_size": "10MB",
                               "permission_groups": ["anonymous"], "remote_ip_ranges": ["192.0.2.0/24"]}),
    "connector new client": row("connector", "new", "Submission", "--usage", "client", "--bindings", "127.0.0.1:2588",
                                method="POST", path=f"{S}/receive-connectors",
                                body={"name": "Submission", "usage": "client", "bindings": "127.0.0.1:2588"}),
    "connector set": row("connector", "set", f"Client {SERVER}", "--disabled", "--auth", "tls,basic",
                         "--connection-timeout", "20m", method="PATCH", path=f"{S}/receive-connectors/Client {SERVER}",
                         body={"enabled": False, "auth": ["tls", "basic"], "connection_timeout": "20m"}),
    "connector set log limits": row("connector", "set", f"Client {SERVER}", "--protocol-log", "enabled",
                                    "--protocol-log-max-age", "14d", "--protocol-log-max-directory-size", "1GB",
                                    "--protocol-log-max-file-size", "0", method="PATCH",
                                    path=f"{S}/receive-connectors/Client {SERVER}",
                                    body={"protocol_log": True, "protocol_log_max_age": "14d",
                                          "protocol_log_max_directory_size": "1GB",
                                          "protocol_log_max_file_size": 0}),
    "connector remove": row("connector", "remove", f"Default {SERVER}", method="DELETE",
                            path=f"{S}/receive-connectors/Default {SERVER}"),
    # sending mail out
    "send-connector new": row("send-connector", "new", "Internet", "--address-spaces", "*,partner.example;5",
                              "--max-message-size", "10MB", "--connection-inactivity-timeout", "5m",
                              method="POST", path="/api/v1/send-connectors",
                              body={"name": "Internet", "address_spaces": ["*", "partner.example;5"],
                                    "max_message_size": "10MB", "connection_inactivity_timeout": "5m"}),
    "send-connector new smart host": row(
        "send-connector", "new", "Relay", "--address-spaces", "*.partner.example", "--no-dns-routing",
        "--smart-hosts", "relay.example.net:587", "--smart-host-auth", "basic", "--auth-username", "app",
        "--auth-password-stdin", "--require-tls", stdin="the relay's password\n", method="POST",
        path="/api/v1/send-connectors",
        body={"name": "Relay", "address_spaces": "*.partner.example", "dns_routing": False,
              "smart_hosts": ["relay.example.net:587"], "smart_host_auth": "basic", "auth_username": "app",
              "auth_password": "the relay's password", "require_tls": True}),
    "send-connector list": row("send-connector", "list", path="/api/v1/send-connectors", before=(SEND_NEW,)),
    "send-connector show": row("send-connector", "show", "internet", path="/api/v1/send-connectors/internet",
                               before=(SEND_NEW,)),
    "send-connector set": row("send-connector", "set", "Internet", "--disabled", "--tls-auth-level",
                              "encryption-only", "--require-tls", "--fqdn", "mail.example.com", method="PATCH",
                              path="/api/v1/send-connectors/Internet", before=(SEND_NEW,),
                              body={"enabled": False, "tls_auth_level": "encryption-only", "require_tls": True,
                                    "fqdn": "mail.example.com"}),
    "send-connector remove": row("send-connector", "remove", "Internet", method="DELETE",
                                 path="/api/v1/send-connectors/Internet", before=(SEND_NEW,)),
    "transport show": row("transport", "show", path=f"{S}/transport"),
    "transport set": row("transport", "set", "--message-expiration-timeout", "2h", "--delay-notification-timeout",
                         "30m", "--dns-servers", "127.0.0.1:5353,::1", "--max-hop-count", "50", method="PATCH",
                         path=f"{S}/transport", body={"message_expiration_timeout": "2h",
                                                      "delay_notification_timeout": "30m",
                                                      "dns_servers": ["127.0.0.1:5353", "::1"], "max_hop_count": 50}),
    "log audit after a send-connector change": row("log", "audit", "--limit", "1", path="/api/v1/audit?limit=1",
                                                   before=(SEND_NEW,), ignore=WHO_AND_WHEN),
    # the whole configuration (postconf, postconf -n)
    "config show": row("config", "show", path="/api/v1/config"),
    "config show changed": row("config", "show", "--changed", "--server", "all", before=(POP_SET,),
                               path="/api/v1/config?changed=true&server=all"),
    "config of an unknown server": row("config", "show", "--server", "EX09", path="/api/v1/config?server=EX09"),
    # the outbound queue
    "queue list": row("queue", "list", path="/api/v1/queues"),
    "queue messages": row("queue", "messages", path="/api/v1/queue-messages"),
    "queue messages filtered": row("queue", "messages", "--queue", PARTNER_QUEUE, "--status", "suspended",
                                   "--limit", "5",
                                   path=f"/api/v1/queue-messages?queue={PARTNER_QUEUE}&status=suspended&limit=5"),
    "message show": row("message", "show", SUSPENDED_ID, path=f"/api/v1/queue-messages/{SUSPENDED_ID}"),
    "queue suspend": row("queue", "suspend", PARTNER_QUEUE, method="POST",
                         path=f"/api/v1/queues/{PARTNER_QUEUE}/suspend"),
    "queue resume": row("queue", "resume", PARTNER_QUEUE, method="POST",
                        path=f"/api/v1/queues/{PARTNER_QUEUE}/resume", before=(QUEUE_SUSPEND,)),
    "queue retry": row("queue", "retry", PARTNER_QUEUE, method="POST", path=f"/api/v1/queues/{PARTNER_QUEUE}/retry"),
    "message suspend": row("message", "suspend", ACTIVE_ID, method="POST",
                           path=f"/api/v1/queue-messages/{ACTIVE_ID}/suspend"),
    "message resume": row("message", "resume", SUSPENDED_ID, method="POST",
                          path=f"/api/v1/queue-messages/{SUSPENDED_ID}/resume"),
    "message remove": row("message", "remove", ACTIVE_ID, method="DELETE", path=f"/api/v1/queue-messages/{ACTIVE_ID}"),
    "message remove with NDR": row("message", "remove", "--ndr", SUSPENDED_ID, method="DELETE",
                                   path=f"/api/v1/queue-messages/{SUSPENDED_ID}?ndr=true"),
    "log audit after a queue action": row("log", "audit", "--limit", "1", path="/api/v1/audit?limit=1",
                                          before=(QUEUE_SUSPEND,), ignore=WHO_AND_WHEN),
    "refused export of an active message": row("message", "export", ACTIVE_ID,
                                               path=f"/api/v1/queue-messages/{ACTIVE_ID}/export"),
    "refused poison queue": row("queue", "suspend", "poison", method="POST", path="/api/v1/queues/poison/suspend"),
    "refused message status": row("queue", "messages", "--status", "frozen",
                                  path="/api/v1/queue-messages?status=frozen"),
    "refused queue id": row("message", "show", "42", path="/api/v1/queue-messages/42"),
    "missing queued message": row("message", "show", "0A00000000FF", path="/api/v1/queue-messages/0A00000000FF"),
    "missing queue": row("queue", "retry", "dns-connector-delivery/nowhere.example/Internet", method="POST",
                         path="/api/v1/queues/dns-connector-delivery/nowhere.example/Internet/retry"),
    # live sessions (no node serves here: none is listed, ending one is refused alike)
    "session list": row("session", "list", path="/api/v1/live-sessions"),
    "missing live session": row("session", "end", "EX01-99", method="DELETE", path="/api/v1/live-sessions/EX01-99"),
    "refused session id": row("session", "end", "seven", method="DELETE", path="/api/v1/live-sessions/seven"),
    "refused session service": row("session", "list", "--service", "imap4",
                                   path="/api/v1/live-sessions?service=imap4"),
    # recipients
    "mailbox new": row("mailbox", "new", "bob@example.com", "--password-stdin", "--display-name", "Bob",
                       "--pop-enabled", "disabled", stdin="bob's password\n", method="POST", path="/api/v1/mailboxes",
                       body={"address": "bob@example.com", "password": "bob's password", "display_name": "Bob",
                             "pop_enabled": False}, ignore=("created_at",)),
    "mailbox list": row("mailbox", "list", path="/api/v1/mailboxes"),
    "mailbox list search": row("mailbox", "list", "--search", "demo", "--offset", "0", "--limit", "5",
                               path="/api/v1/mailboxes?search=demo&offset=0&limit=5"),
    "mailbox show": row("mailbox", "show", "demo@example.com", path="/api/v1/mailboxes/demo@example.com"),
    "mailbox set": row("mailbox", "set", "Demo@Example.com", "--pop-enabled", "disabled", "--display-name", "Demo",
                       "--disabled", method="PATCH", path="/api/v1/mailboxes/Demo@Example.com",
                       body={"pop_enabled": False, "display_name": "Demo", "enabled": False}),
    "mailbox set --pop": row("mailbox", "set", "demo@example.com", "--pop", "disabled", method="PATCH",
                             path="/api/v1/mailboxes/demo@example.com", body={"pop_enabled": False}),
    "mailbox set send-as": row("mailbox", "set", "demo@example.com", "--send-as", "Sales@Example.com,*@apps.example",
                               method="PATCH", path="/api/v1/mailboxes/demo@example.com",
                               body={"send_as": ["Sales@Example.com", "*@apps.example"]}),
    "mailbox password": row("mailbox", "password", "demo@example.com", "--password-stdin", stdin="new one\n",
                            method="POST", path="/api/v1/mailboxes/demo@example.com/password",
                            body={"password": "new one"}),
    "mailbox remove": row("mailbox", "remove", "demo@example.com", "--yes", method="DELETE",
                          path="/api/v1/mailboxes/demo@example.com"),
    "mailbox messages": row("mailbox", "messages", "demo@example.com", "--limit", "5",
                            path="/api/v1/mailboxes/demo@example.com/messages?limit=5"),
    "mailbox message delete": row("mailbox", "message", "demo@example.com", "1", "--delete", method="DELETE",
                                  path="/api/v1/mailboxes/demo@example.com/messages/1"),
    "missing mailbox message": row("mailbox", "message", "demo@example.com", "999", "--delete", method="DELETE",
                                   path="/api/v1/mailboxes/demo@example.com/messages/999"),
    "domain add": row("domain", "add", "Example.ORG", method="POST", path="/api/v1/domains",
                      body={"name": "Example.ORG"}),
    "domain list": row("domain", "list", path="/api/v1/domains"),
    "domain remove": row("domain", "remove", "spare.example", method="DELETE", path="/api/v1/domains/spare.example"),
    # a new key is a new key pair on each side: its public half (and time) differ, nothing else
    "domain dkim new": row("domain", "dkim", "new", "Example.COM", "--algorithm", "ed25519", "--selector", "Sel1",
                           method="POST", path="/api/v1/domains/Example.COM/dkim",
                           body={"algorithm": "ed25519", "selector": "Sel1"}, ignore=NEW_KEY),
    "domain dkim new default": row("domain", "dkim", "new", "example.com", method="POST",
                                   path="/api/v1/domains/example.com/dkim", body={}, ignore=NEW_KEY),
    "domain dkim show": row("domain", "dkim", "show", "example.com", path="/api/v1/domains/example.com/dkim",
                            ignore=NEW_KEY, before=(NEW_RSA_KEY,)),
    "domain dkim remove": row("domain", "dkim", "remove", "example.com", "--selector", "spare", method="DELETE",
                              path="/api/v1/domains/example.com/dkim?selector=spare"),
    "domain dkim remove all": row("domain", "dkim", "remove", "example.com", "--yes", method="DELETE",
                                  path="/api/v1/domains/example.com/dkim", ignore=NEW_KEY, before=(NEW_RSA_KEY,)),
    # admins and tokens
    "admin new": row("admin", "new", "carol", "--role", "view-only,server-management", "--password-stdin",
                     stdin="carol's password\n", method="POST", path="/api/v1/admins",
                     body={"name": "carol", "password": "carol's password", "roles": ["view-only",
                                                                                      "server-management"]},
                     ignore=("created_at",)),
    "admin list": row("admin", "list", path="/api/v1/admins"),
    "admin show": row("admin", "show", "spare", path="/api/v1/admins/spare"),
    "admin set-role": row("admin", "set-role", "spare", "--role", "recipient-management,view-only", method="PATCH",
                          path="/api/v1/admins/spare", body={"roles": ["recipient-management", "view-only"]}),
    "admin password": row("admin", "password", "spare", "--password-stdin", stdin="spare's new password\n",
                          method="POST", path="/api/v1/admins/spare/password",
                          body={"password": "spare's new password"}),
    "admin remove": row("admin", "remove", "spare", method="DELETE", path="/api/v1/admins/spare"),
    "token new": row("admin", "token", "new", "spare", "--description", "ci", "--expires", "30d", method="POST",
                     path="/api/v1/admins/spare/tokens", body={"description": "ci", "expires": "30d"},
                     ignore=("id", "token", "created_at", "expires_at")),
    "token list one": row("admin", "token", "list", "spare", path="/api/v1/admins/spare/tokens"),
    "token list all": row("admin", "token", "list", path="/api/v1/tokens"),
    "token revoke": row("admin", "token", "revoke", "{spare_token}", method="DELETE",
                        path="/api/v1/tokens/{spare_token}"),
    # logs: the entry a change leaves has the same shape and content, whoever made it
    "log audit after a change": row("log", "audit", "--limit", "1", path="/api/v1/audit?limit=1",
                                    before=(POP_SET,), ignore=WHO_AND_WHEN),
    "log audit filtered": row("log", "audit", "--action", "admin.new", "--channel", "cli", "--outcome", "success",
                              "--since", "1d", "--limit", "3",
                              path="/api/v1/audit?action=admin.new&channel=cli&outcome=success&since=1d&limit=3"),
    "log tracking": row("log", "tracking", "--recipient", "demo@example.com", "--since", "1h",
                        path="/api/v1/message-tracking?recipient=demo@example.com&since=1h"),
    "log tracking by event": row("log", "tracking", "--event", "defer", "--queue-id", "3f2a9c01b7e4",
                                 path="/api/v1/message-tracking?event_id=defer&queue_id=3f2a9c01b7e4"),
    "refused tracking event": row("log", "tracking", "--event", "SENT", path="/api/v1/message-tracking?event_id=SENT"),
    # the doctor and the connectivity tests (no node serves: checks fail, probes are refused)
    "doctor send": row("doctor", "send", "bob@partner.example", path="/api/v1/doctor/send/bob@partner.example",
                       verdict=True),
    "doctor send without connecting": row("doctor", "send", "bob@partner.example", "--no-connect",
                                          path="/api/v1/doctor/send/bob@partner.example?connect=false",
                                          verdict=True),
    "doctor pop": row("doctor", "pop", ALICE, path=f"/api/v1/doctor/pop/{ALICE}", verdict=True),
    "doctor pop as the application": row("doctor", "pop", ALICE, "--client-mode", "stls", "--port", "1110",
                                         "--host", "localhost",
                                         path=f"/api/v1/doctor/pop/{ALICE}?client_mode=stls&port=1110&host=localhost",
                                         verdict=True),
    "doctor pop with login": row("doctor", "pop", ALICE, "--password-stdin", "--client-mode", "ssl",
                                 stdin=ALICE_PASSWORD, method="POST", path=f"/api/v1/doctor/pop/{ALICE}",
                                 body={"password": ALICE_PASSWORD.strip(), "client_mode": "ssl"}, verdict=True),
    "doctor imap": row("doctor", "imap", ALICE, path=f"/api/v1/doctor/imap/{ALICE}", verdict=True),
    "doctor imap as the application": row("doctor", "imap", ALICE, "--client-mode", "starttls", "--port", "1143",
                                          path=f"/api/v1/doctor/imap/{ALICE}?client_mode=starttls&port=1143",
                                          verdict=True),
    "doctor imap with login": row("doctor", "imap", ALICE, "--password-stdin", "--client-mode", "ssl",
                                  stdin=ALICE_PASSWORD, method="POST", path=f"/api/v1/doctor/imap/{ALICE}",
                                  body={"password": ALICE_PASSWORD.strip(), "client_mode": "ssl"}, verdict=True),
    "test imap light": row("test", "imap", ALICE, "--light", "--password-stdin", stdin=ALICE_PASSWORD,
                           method="POST", path=f"/api/v1/test/imap/{ALICE}",
                           body={"password": ALICE_PASSWORD.strip(), "light": True},
                           ignore=("latency_ms",), verdict=True),
    "test pop light": row("test", "pop", ALICE, "--light", "--password-stdin", stdin=ALICE_PASSWORD, method="POST",
                          path=f"/api/v1/test/pop/{ALICE}", body={"password": ALICE_PASSWORD.strip(), "light": True},
                          ignore=("latency_ms",), verdict=True),
    "test smtp light": row("test", "smtp", ALICE, "--light", "--password-stdin", stdin=ALICE_PASSWORD,
                           method="POST", path=f"/api/v1/test/smtp/{ALICE}",
                           body={"password": ALICE_PASSWORD.strip(), "light": True},
                           ignore=("latency_ms",), verdict=True),
    "test pop full": row("test", "pop", ALICE, "--password-stdin", stdin=ALICE_PASSWORD, method="POST",
                         path=f"/api/v1/test/pop/{ALICE}", body={"password": ALICE_PASSWORD.strip()},
                         ignore=("latency_ms",), verdict=True),
    # refusals: the same kind of error, naming the same field
    "refused log age": row("pop", "set", "--log-max-age", "forever", method="PATCH", path=f"{S}/pop-settings",
                           body={"log_max_age": "forever"}),
    "refused value": row("pop", "set", "--login-type", "nope", method="PATCH", path=f"{S}/pop-settings",
                         body={"login_type": "nope"}),
    "refused connector option": row("connector", "set", f"Client {SERVER}", "--max-recipients-per-message", "0",
                                    method="PATCH", path=f"{S}/receive-connectors/Client {SERVER}",
                                    body={"max_recipients_per_message": 0}),
    "refused client mode": row("doctor", "pop", ALICE, "--client-mode", "tls",
                               path=f"/api/v1/doctor/pop/{ALICE}?client_mode=tls"),
    "refused port": row("test", "pop", ALICE, "--light", "--password-stdin", "--port", "70000", stdin=ALICE_PASSWORD,
                        method="POST", path=f"/api/v1/test/pop/{ALICE}",
                        body={"password": ALICE_PASSWORD.strip(), "light": True, "port": 70000}),
    "refused smart hosts with DNS routing": row("send-connector", "new", "Relay", "--address-spaces", "*",
                                                "--smart-hosts", "relay.example.net", method="POST",
                                                path="/api/v1/send-connectors",
                                                body={"name": "Relay", "address_spaces": "*",
                                                      "smart_hosts": "relay.example.net"}),
    "refused address space": row("send-connector", "new", "Bad", "--address-spaces", "*partner.example",
                                 method="POST", path="/api/v1/send-connectors",
                                 body={"name": "Bad", "address_spaces": ["*partner.example"]}),
    "refused transport timer": row("transport", "set", "--delay-notification-timeout", "3d", method="PATCH",
                                   path=f"{S}/transport", body={"delay_notification_timeout": "3d"}),
    "missing send connector": row("send-connector", "show", "Nope", path="/api/v1/send-connectors/Nope"),
    "send connector clash": row("send-connector", "new", "INTERNET", "--address-spaces", "*", method="POST",
                                path="/api/v1/send-connectors", body={"name": "INTERNET", "address_spaces": "*"},
                                before=(SEND_NEW,)),
    "missing object": row("mailbox", "show", "nobody@example.com", path="/api/v1/mailboxes/nobody@example.com"),
    "clash": row("domain", "add", "example.com", method="POST", path="/api/v1/domains", body={"name": "example.com"}),
    "dkim clash": row("domain", "dkim", "new", "example.com", "--algorithm", "ed25519", method="POST",
                      path="/api/v1/domains/example.com/dkim", body={"algorithm": "ed25519"}),
    "refused dkim algorithm": row("domain", "dkim", "new", "example.com", "--algorithm", "rsa-1024", method="POST",
                                  path="/api/v1/domains/example.com/dkim", body={"algorithm": "rsa-1024"}),
    "refused dkim selector": row("domain", "dkim", "new", "example.com", "--selector", "-bad-", method="POST",
                                 path="/api/v1/domains/example.com/dkim", body={"selector": "-bad-"}),
    "dkim of an unknown domain": row("domain", "dkim", "show", "example.org",
                                     path="/api/v1/domains/example.org/dkim"),
    "dkim remove unknown": row("domain", "dkim", "remove", "example.com", "--selector", "nope", method="DELETE",
                               path="/api/v1/domains/example.com/dkim?selector=nope"),
    "last organization manager": row("admin", "set-role", "org", "--role", "view-only", method="PATCH",
                                     path="/api/v1/admins/org", body={"roles": "view-only"},
                                     before=(Step(("admin", "set-role", "admin", "--role", "view-only"), "PATCH",
                                                  "/api/v1/admins/admin", {"roles": ["view-only"]}),)),
}


@pytest.fixture
def cli_data(tmp_path: Path, web_template) -> Path:
    """A second copy of the same install, for the CLI."""
    data = tmp_path / "cli-var"
    shutil.copytree(web_template[0], data)
    return data


def run_cli(data: Path, step: Step, values: dict[str, str], verdict: bool) -> tuple[int, Any, str]:
    args = [a.format(**values) for a in step.cli]
    result = CliRunner().invoke(cli_app, [*args, "--json", "--data", str(data)], input=step.stdin, env=CLI_ENV)
    assert "Traceback" not in result.output
    printed = result.exit_code == 0 or (verdict and result.exit_code == 1)
    return result.exit_code, json.loads(result.stdout) if printed else None, result.stderr


def same_data(value: Any, data_dir: str) -> Any:
    """A fix that names the data directory (`postroom serve --data DIR`) names each copy's own."""
    return json.loads(json.dumps(value).replace(json.dumps(data_dir)[1:-1], "DATA"))


def without(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without(v, keys) for v in value]
    return value


@pytest.mark.parametrize("case", ROWS.values(), ids=ROWS.keys())
def test_the_cli_and_the_api_agree(case: Row, cli_data: Path, data_dir: str, api, principals) -> None:
    # The API side signs in with HTTP Basic: a bearer token would record its own use (last_used_at).
    org = principals["organization-management"]
    values = {"spare_token": principals["spare"].token_id}
    for step in case.steps:
        code, cli_result, stderr = run_cli(cli_data, step, values, case.verdict)
        response = api.request(step.method, step.path.format(**values), headers=org.basic, json=step.body)
    if cli_result is None:
        assert response.status_code == EXIT_STATUS[code], (stderr, response.text)
        error = response.json()["error"]
        flat = " ".join(stderr.split())
        if error["field"]:
            assert error["field"].replace("_", "-") in flat
        assert error["message"].split(": ", 1)[-1] in flat  # the same words, whichever front end
        return
    assert response.status_code in (200, 201), response.text
    answer, cli_result = same_data(response.json(), data_dir), same_data(cli_result, str(cli_data))
    assert without(answer, case.ignore) == without(cli_result, case.ignore)
    if case.ignore == frozenset(WHO_AND_WHEN):  # the audit entry says who acted and through which channel
        assert (cli_result[0]["actor"], cli_result[0]["channel"]) == ("local-operator", "cli")
        assert (response.json()[0]["actor"], response.json()[0]["channel"]) == ("org", "api")
