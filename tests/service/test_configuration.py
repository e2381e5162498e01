"""The configuration as one document (`config show`) and what differs from the defaults
(`--changed`, postconf -n): every settings table, stable, secrets never in it, every role
reads it and reading is not audited."""
from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from dkim_support import dkim_key
from postroom.errors import Forbidden, NotFound
from postroom.model import MASK, ImapSettings, PopSettings, SendConnector, TransportSettings
from postroom.service import configuration, mailboxes, pop, send_connectors, transport
from postroom.service.setup import DEV_POP_BINDINGS, DEV_POP_SSL_BINDINGS

ORG = "organization-management"
ROLES = (ORG, "server-management", "recipient-management", "view-only")
PASSWORD = "s3cret relay password"


def shape(value: Any) -> Any:
    """The keys of a document, all the way down (values apart)."""
    return {k: shape(v) for k, v in value.items()} if isinstance(value, dict) else None


def test_every_role_reads_the_whole_document_and_reading_is_not_audited(context, run, store) -> None:
    before = run(store.list_audit(1000))
    documents = [run(configuration.show_configuration(context(role))) for role in ROLES]
    assert all(document == documents[0] for document in documents)
    document = documents[0]
    assert list(document) == ["organization", "servers"] and list(document["servers"]) == ["EX01"]
    server = document["servers"]["EX01"]
    assert list(server) == ["fqdn", "services", "pop", "imap", "receive_connectors", "transport", "web"]
    assert server["pop"] == run(store.get_pop_settings("EX01")).to_dict()  # every setting, declaration order
    assert list(server["pop"]) == list(PopSettings.table().names)
    assert server["imap"] == run(store.get_imap_settings("EX01")).to_dict()
    assert list(server["imap"]) == list(ImapSettings.table().names)
    assert server["transport"] == TransportSettings().to_dict()
    assert list(server["receive_connectors"]) == ["Client EX01", "Default EX01"]
    assert "name" not in server["receive_connectors"]["Client EX01"]
    assert server["services"]["pop3"] == {"startup": "automatic", "status": "running"}  # the dev profile
    assert server["services"]["imap4"] == {"startup": "automatic", "status": "running"}
    organization = document["organization"]
    assert organization["accepted_domains"] == ["example.com"]
    assert organization["admins"] == {"admin": ["organization-management"]}
    assert organization["mailboxes"] == {"count": 1, "not_default": {"pop_enabled": 0, "imap_enabled": 0, "enabled": 0,
                                                                     "send_as": 0}}
    assert run(store.list_audit(1000)) == before
    with pytest.raises(Forbidden):
        run(configuration.show_configuration(context()))


def test_changed_lists_what_differs_from_the_defaults_after_pop_set(context, run) -> None:
    org = context(ORG)
    fresh = run(configuration.show_configuration(org, changed=True))["servers"]["EX01"]
    assert set(fresh) == {"services", "pop", "imap", "receive_connectors", "web"}  # transport untouched: left out
    assert set(fresh["pop"]) == {"bindings", "ssl_bindings", "certificate", "certificate_key"}  # init's dev profile
    assert fresh["pop"]["bindings"] == list(DEV_POP_BINDINGS)
    assert set(fresh["imap"]) == {"bindings", "ssl_bindings", "certificate", "certificate_key"}
    assert fresh["imap"]["bindings"] == ["127.0.0.1:1143"] and fresh["imap"]["ssl_bindings"] == ["127.0.0.1:1993"]
    assert fresh["services"] == {"pop3": {"startup": "automatic", "status": "running"},  # smtp, admin as installed
                                 "imap4": {"startup": "automatic", "status": "running"}}
    assert fresh["receive_connectors"]["Client EX01"] == {
        "bindings": ["127.0.0.1:2587"], "auth": ["tls", "basic", "basic-require-tls"], "permission_groups": ["users"]}

    run(pop.set_pop(org, None, PopSettings.changes(login_type="plain-text-login", max_command_size="100")))
    run(transport.set_transport(org, None, TransportSettings.changes(max_hop_count="30")))
    after = run(configuration.show_configuration(org, changed=True))["servers"]["EX01"]
    assert after["pop"] == {**fresh["pop"], "login_type": "plain-text-login", "max_command_size": 100}
    assert after["transport"] == {"max_hop_count": 30}

    run(pop.set_pop(org, None, PopSettings.changes(login_type="secure-login", max_command_size="512")))
    back = run(configuration.show_configuration(org, changed=True))["servers"]["EX01"]
    assert back["pop"] == fresh["pop"]  # set back to the default: no longer listed


def test_the_text_is_yaml_with_the_documents_keys_and_the_forms_set_takes(context, run) -> None:
    org = context(ORG)
    run(pop.set_pop(org, None, PopSettings.changes(banner="ready: 10:30 #1", log_max_age="7d")))
    document = run(configuration.show_configuration(org))
    text = configuration.configuration_text(document)
    loaded = yaml.safe_load(text)
    assert shape(loaded) == shape(document)
    pop_text = loaded["servers"]["EX01"]["pop"]
    assert pop_text["log_max_age"] == "7d" and document["servers"]["EX01"]["pop"]["log_max_age"] == 7 * 86400
    assert pop_text["log_max_directory_size"] == "250MB"
    assert pop_text["banner"] == "ready: 10:30 #1"  # quoted where YAML would misread it
    assert pop_text["ssl_bindings"] == list(DEV_POP_SSL_BINDINGS)
    assert loaded["servers"]["EX01"]["receive_connectors"]["Client EX01"]["max_message_size"] == "36MB"
    assert configuration.configuration_text(run(configuration.show_configuration(org))) == text  # stable


def test_changed_text_gives_each_default_as_a_comment(context, run) -> None:
    org = context(ORG)
    run(pop.set_pop(org, None, PopSettings.changes(login_type="plain-text-login", log_max_directory_size="1GB")))
    text = configuration.configuration_text(run(configuration.show_configuration(org, changed=True)), changed=True)
    assert "      login_type: plain-text-login  # default: secure-login\n" in text
    assert "      log_max_directory_size: 1GB  # default: 250MB\n" in text
    assert '      bindings:  # default: 0.0.0.0:110, [::]:110\n        - "127.0.0.1:1110"\n' in text
    assert "        startup: automatic  # default: manual\n" in text
    assert "transport" not in text
    assert yaml.safe_load(text)["servers"]["EX01"]["pop"]["login_type"] == "plain-text-login"


def test_secrets_are_never_in_the_document(context, run, store, data_dir) -> None:
    org = context(ORG)
    run(send_connectors.new_send_connector(org, "Relay", SendConnector.changes(
        address_spaces="partner.example", dns_routing=False, smart_hosts="relay.example.net:587",
        smart_host_auth="basic", auth_username="app", auth_password=PASSWORD, require_tls=True)))
    key = dkim_key("example.com", "s1", "ed25519")
    run(store.add_dkim_key(key))
    sealed = run(store.get_send_connector("Relay")).auth_password
    hashes = [a.password_hash for a in run(store.list_admins())]
    hashes += [m.password_hash for m in run(store.list_mailboxes())]
    tokens = [t.secret_hash for t in run(store.list_tokens())]
    for changed in (False, True):
        document = run(configuration.show_configuration(context("view-only"), "all", changed=changed))
        relay = document["organization"]["send_connectors"]["Relay"]
        assert relay["auth_password"] == MASK and relay["auth_username"] == "app"
        assert document["organization"]["dkim_keys"] == {"example.com": {"s1": "ed25519"}}
        everything = json.dumps(document) + configuration.configuration_text(document, changed=changed)
        for secret in (PASSWORD, sealed, key.private_key_pem.splitlines()[1], *filter(None, hashes), *tokens):
            assert secret not in everything


def test_mailboxes_are_counted_not_listed(context, run) -> None:
    org = context(ORG)
    run(mailboxes.new_mailbox(org, "app@example.com", "pw", pop_enabled=False))
    run(mailboxes.new_mailbox(org, "off@example.com", "pw", enabled=False))
    document = run(configuration.show_configuration(org))
    assert document["organization"]["mailboxes"] == {"count": 3,
                                                     "not_default": {"pop_enabled": 1, "imap_enabled": 0, "enabled": 1,
                                                                     "send_as": 0}}
    changed = run(configuration.show_configuration(org, changed=True))
    assert changed["organization"]["mailboxes"] == {"count": 3, "not_default": {"pop_enabled": 1, "enabled": 1}}
    assert "app@example.com" not in json.dumps(document)


def test_servers_all_one_or_an_unknown_one(context, run) -> None:
    reader = context("view-only")
    assert list(run(configuration.show_configuration(reader, "all"))["servers"]) == ["EX01"]
    assert list(run(configuration.show_configuration(reader, "EX01"))["servers"]) == ["EX01"]
    with pytest.raises(NotFound, match="EX09"):
        run(configuration.show_configuration(reader, "EX09"))
