"""DKIM keys through the service layer: what `domain dkim new|show|remove` do, what the audit
log keeps (never the private key), and that a key made here signs mail a verifier accepts
with the record `show` tells the admin to publish."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import dkim as dkimpy
import pytest

from postroom.dkim import Signer
from postroom.errors import NotFound, ValidationError
from postroom.service import dkim_keys

MESSAGE = (b"From: Demo <demo@example.com>\r\nTo: bob@partner.example\r\nSubject: signed\r\n"
           b"Date: Mon, 7 Dec 2026 05:00:00 +0000\r\nMessage-ID: <s1@example.com>\r\n\r\nHello.\r\n")


def published(shown: dict) -> dict[bytes, bytes]:
    """The DNS an admin makes by publishing what `show` prints: name -> the strings joined."""
    return {(key["dns_name"] + ".").encode(): "".join(key["txt_strings"]).encode() for key in shown["keys"]}


def test_keys_made_here_sign_mail_that_verifies_with_the_published_records(context, store, run):
    ctx = context("organization-management", name="olga")
    month = datetime.now(timezone.utc).strftime("%Y%m")
    rsa = run(dkim_keys.new_dkim_key(ctx, "Example.COM"))
    ed = run(dkim_keys.new_dkim_key(ctx, "example.com", "ED25519"))
    assert (rsa["selector"], rsa["algorithm"]) == (f"postroom-{month}-rsa", "rsa-2048")
    assert (ed["selector"], ed["algorithm"]) == (f"postroom-{month}-ed25519", "ed25519")
    shown = run(dkim_keys.show_dkim(context("view-only"), "example.com"))
    assert shown["domain"] == "example.com" and shown["signing"] is True
    assert [k["selector"] for k in shown["keys"]] == [ed["selector"], rsa["selector"]]
    assert all(len(part) <= 255 for key in shown["keys"] for part in key["txt_strings"])

    records = published(shown)
    signatures = Signer().sign_message(MESSAGE, run(store.list_dkim_keys()))
    signed = signatures + MESSAGE
    checker = dkimpy.DKIM(signed)
    for index in range(2):
        assert checker.verify(idx=index, dnsfunc=lambda name, timeout=5: records.get(name))
    assert time.time() - int(checker.signature_fields[b"t"]) < 60


def test_the_audit_log_records_the_record_never_the_private_key(context, store, run):
    ctx = context("organization-management", name="olga")
    made = run(dkim_keys.new_dkim_key(ctx, "example.com", "ed25519", "sel1"))
    removed = run(dkim_keys.remove_dkim_keys(ctx, "example.com", "SEL1"))
    assert [k["selector"] for k in removed] == ["sel1"]
    remove, new = run(store.list_audit(2))
    assert (new.actor, new.action, new.target, new.before) == ("olga", "domain.dkim.new",
                                                               "domain/example.com/dkim/sel1", None)
    assert new.after["txt_value"] == made["txt_value"] and new.after["dns_name"] == "sel1._domainkey.example.com"
    assert (remove.action, remove.before, remove.after) == ("domain.dkim.remove", new.after, None)
    everything = json.dumps([e.__dict__ for e in run(store.list_audit(1000))], default=str)
    assert "PRIVATE" not in everything
    assert "private" not in json.dumps(made) and "PRIVATE" not in json.dumps(made)


def test_removing_every_key_of_a_domain(context, store, run):
    ctx = context("organization-management")
    run(dkim_keys.new_dkim_key(ctx, "example.com", "ed25519", "e1"))
    run(dkim_keys.new_dkim_key(ctx, "example.com", "rsa-2048", "r1"))
    removed = run(dkim_keys.remove_dkim_keys(ctx, "example.com"))
    assert sorted(k["selector"] for k in removed) == ["e1", "r1"]
    assert [e.action for e in run(store.list_audit(2))] == ["domain.dkim.remove"] * 2
    assert run(dkim_keys.show_dkim(ctx, "example.com")) == {"domain": "example.com", "signing": False, "keys": []}
    with pytest.raises(NotFound, match="example.com"):
        run(dkim_keys.remove_dkim_keys(ctx, "example.com"))


def test_bad_requests_name_the_field_and_change_nothing(context, store, run):
    ctx = context("organization-management")
    version = run(store.config_version())
    with pytest.raises(ValidationError) as refused:
        run(dkim_keys.new_dkim_key(ctx, "example.com", "rsa-4096"))
    assert refused.value.field == "algorithm" and refused.value.allowed == ["rsa-2048", "ed25519"]
    with pytest.raises(ValidationError) as refused:
        run(dkim_keys.new_dkim_key(ctx, "example.com", "ed25519", "a_b"))
    assert refused.value.field == "selector"
    with pytest.raises(ValidationError) as refused:
        run(dkim_keys.new_dkim_key(ctx, "not a domain"))
    assert refused.value.field == "domain"
    with pytest.raises(NotFound, match="partner.example"):
        run(dkim_keys.new_dkim_key(ctx, "partner.example"))  # not an accepted domain
    with pytest.raises(NotFound, match="partner.example"):
        run(dkim_keys.show_dkim(ctx, "partner.example"))
    assert run(store.list_dkim_keys()) == [] and run(store.config_version()) == version
