"""The Store contract, admin side: admin principals, API tokens, console sessions, the admin
service's settings and the audit log's channel/outcome/detail and filters. Every backend must
pass it, through the Store protocol only."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from postroom.errors import Conflict, NotFound, Unavailable, ValidationError
from postroom.model import (
    DEV_WEB_SETTINGS, Admin, ApiToken, AuditEntry, LoginPolicy, PopSettings, Server, WebSession, WebSettings,
)

from .test_store_contract import SERVER, is_utc_iso, services_for

pytestmark = [pytest.mark.store_admin, pytest.mark.store_config]

OTHER = Server("EX02", "ex02.example.com")
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
ORG = ("organization-management",)
VIEW = ("view-only",)


def at(minutes: float = 0) -> str:
    """A time in the store's ISO-8601 UTC form, `minutes` after T0."""
    return (T0 + timedelta(minutes=minutes)).isoformat(timespec="microseconds")


def token(id_: str, admin: str = "alice", created_at: str = "", **kw) -> ApiToken:
    return ApiToken(id_, admin, f"sha256-of-{id_}", created_at=created_at, **kw)


def session(id_hash: str, admin: str = "alice", expires_in: float = 60) -> WebSession:
    return WebSession(id_hash, admin, f"csrf-{id_hash}", at(0), at(expires_in))


# admin principals ---------------------------------------------------------------------------

def test_admins_round_trip_ordered_by_name(store, run):
    async def body():
        assert await store.list_admins() == []
        carol = await store.add_admin("carol", "$argon2id$c", ["view-only"])
        alice = await store.add_admin("alice", "$argon2id$a", ORG)
        bob = await store.add_admin("bob", None, ("server-management", "recipient-management"))
        assert (alice.name, alice.password_hash, alice.roles) == ("alice", "$argon2id$a", ORG)
        assert bob.password_hash is None and bob.roles == ("server-management", "recipient-management")
        assert carol.roles == VIEW and isinstance(carol.roles, tuple)
        assert all(is_utc_iso(a.created_at) for a in (alice, bob, carol))
        assert await store.get_admin("alice") == alice
        assert await store.find_admin("bob") == bob
        assert await store.list_admins() == [alice, bob, carol]
        assert await store.find_admin("dave") is None
        with pytest.raises(NotFound):
            await store.get_admin("dave")
    run(body())


def test_admin_names_match_in_any_case(store, run):
    async def body():
        alice = await store.add_admin("alice", "h", ORG)
        assert await store.get_admin("ALICE") == alice
        assert await store.find_admin("Alice") == alice
        with pytest.raises(Conflict):
            await store.add_admin("Alice", "other", VIEW)
        assert await store.list_admins() == [alice], "a refused add changes nothing"
        updated = await store.update_admin("ALICE", roles=VIEW)
        assert updated.name == "alice" and updated.roles == VIEW
        await store.remove_admin("aLiCe")
        assert await store.list_admins() == []
    run(body())


def test_update_admin(store, run):
    async def body():
        alice = await store.add_admin("alice", "h1", ORG)
        changed = await store.update_admin("alice", password_hash="h2")
        assert changed == Admin("alice", "h2", ORG, alice.created_at)
        changed = await store.update_admin("alice", roles=["view-only", "recipient-management"],
                                           password_hash=None)
        assert changed == Admin("alice", None, ("view-only", "recipient-management"), alice.created_at)
        assert await store.get_admin("alice") == changed
        assert await store.update_admin("alice") == changed  # no change: the admin as it is
        with pytest.raises(NotFound):
            await store.update_admin("bob", password_hash="x")
        with pytest.raises(NotFound):
            await store.update_admin("bob")
        with pytest.raises(ValidationError) as info:
            await store.update_admin("alice", name="eve")
        assert info.value.field == "name"
        with pytest.raises(ValidationError):
            await store.update_admin("alice", roles="view-only")  # text, not a list
        with pytest.raises(ValidationError):
            await store.update_admin("alice", password_hash=42)
        assert await store.get_admin("alice") == changed
    run(body())


def test_remove_admin_takes_its_tokens_and_sessions(store, run):
    async def body():
        await store.add_admin("alice", "h", ORG)
        await store.add_admin("bob", "h", VIEW)
        await store.add_token(token("a1"))
        await store.add_token(token("a2"))
        kept_token = await store.add_token(token("b1", "bob"))
        await store.add_session(session("sa"))
        await store.add_session(session("sb", "bob"))
        await store.remove_admin("alice")
        assert await store.find_admin("alice") is None
        assert await store.list_tokens() == [kept_token]
        assert await store.find_token("a1") is None and await store.find_token("a2") is None
        assert await store.find_session("sa") is None
        assert (await store.find_session("sb")).admin == "bob"
        with pytest.raises(NotFound):
            await store.remove_admin("alice")
        # the name is free again, and the new alice has none of the old one's tokens
        await store.add_admin("alice", "h", VIEW)
        assert await store.list_tokens("alice") == []
    run(body())


# API tokens ---------------------------------------------------------------------------------

def test_tokens_round_trip(store, run):
    async def body():
        await store.add_admin("alice", "h", ORG)
        added = await store.add_token(ApiToken("t1", "alice", "hash1", "deploy script"))
        assert (added.id, added.admin, added.secret_hash, added.description) == ("t1", "alice", "hash1",
                                                                                 "deploy script")
        assert is_utc_iso(added.created_at), "created_at is set by the store when empty"
        assert added.expires_at is None and added.last_used_at is None
        assert await store.find_token("t1") == added
        full = ApiToken("t2", "alice", "hash2", "", at(0), expires_at=at(60 * 24), last_used_at=None)
        assert await store.add_token(full) == full, "a given created_at is kept"
        assert await store.find_token("t2") == full
        assert await store.find_token("nope") is None
        assert await store.find_token("T1") is None, "token ids are exact"
    run(body())


def test_add_token_needs_its_admin_and_a_free_id(store, run):
    async def body():
        with pytest.raises(NotFound):
            await store.add_token(token("t1", "ghost"))
        await store.add_admin("alice", "h", ORG)
        first = await store.add_token(token("t1"))
        with pytest.raises(Conflict):
            await store.add_token(ApiToken("t1", "alice", "another-hash"))
        assert await store.list_tokens() == [first]
        # the admin's name matches in any case; the token keeps the stored spelling
        other = await store.add_token(token("t2", "ALICE"))
        assert other.admin == "alice" and (await store.find_token("t2")).admin == "alice"
    run(body())


def test_list_tokens_ordered_by_admin_created_at_id(store, run):
    async def body():
        await store.add_admin("bob", "h", VIEW)
        await store.add_admin("alice", "h", ORG)
        b = await store.add_token(token("b", "bob", at(1)))
        a3 = await store.add_token(token("a3", "alice", at(2)))
        a2 = await store.add_token(token("a2", "alice", at(1)))
        a1 = await store.add_token(token("a1", "alice", at(2)))
        assert await store.list_tokens() == [a2, a1, a3, b]
        assert await store.list_tokens("alice") == [a2, a1, a3]
        assert await store.list_tokens(admin="BOB") == [b]
        assert await store.list_tokens("nobody") == []
    run(body())


def test_touch_and_remove_token(store, run):
    async def body():
        await store.add_admin("alice", "h", ORG)
        added = await store.add_token(token("t1", created_at=at(0)))
        await store.touch_token("t1", at(5))
        assert (await store.find_token("t1")).last_used_at == at(5)
        await store.touch_token("t1", at(9))
        assert await store.find_token("t1") == ApiToken("t1", "alice", added.secret_hash, "", at(0), None, at(9))
        await store.touch_token("missing", at(9))  # ignored
        assert [t.id for t in await store.list_tokens()] == ["t1"]
        await store.remove_token("t1")
        assert await store.find_token("t1") is None
        with pytest.raises(NotFound):
            await store.remove_token("t1")
        await store.touch_token("t1", at(10))  # a removed token stays removed
        assert await store.list_tokens() == []
    run(body())


# console sessions ---------------------------------------------------------------------------

def test_sessions_round_trip_extend_and_remove(store, run):
    async def body():
        with pytest.raises(NotFound):
            await store.add_session(session("s1", "ghost"))
        await store.add_admin("alice", "h", ORG)
        s1 = session("s1")
        await store.add_session(s1)
        assert await store.find_session("s1") == s1
        assert await store.find_session("s2") is None
        with pytest.raises(Conflict):
            await store.add_session(session("s1"))
        await store.add_session(session("s2", "ALICE"))
        assert (await store.find_session("s2")).admin == "alice"

        await store.extend_session("s1", at(120))
        assert await store.find_session("s1") == WebSession("s1", "alice", "csrf-s1", at(0), at(120))
        await store.extend_session("missing", at(120))  # ignored
        assert await store.find_session("missing") is None

        await store.remove_session("s1")
        assert await store.find_session("s1") is None
        await store.remove_session("s1")  # signing out twice is fine
        assert await store.find_session("s2") is not None
    run(body())


def test_remove_expired_sessions(store, run):
    async def body():
        await store.add_admin("alice", "h", ORG)
        for name, minutes in (("past", -10), ("edge", 30), ("later", 31), ("far", 60 * 24 * 400)):
            await store.add_session(session(name, expires_in=minutes))
        assert await store.remove_expired_sessions(at(0)) == 1
        assert await store.find_session("past") is None
        # expires_at <= now goes: "edge" expires exactly at now; "Z" means UTC as well
        now = (T0 + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert await store.remove_expired_sessions(now) == 1
        assert [await store.find_session(n) is None for n in ("edge", "later", "far")] == [True, False, False]
        # another offset for the same instant compares as that instant, not as text
        cet = (T0 + timedelta(minutes=31)).astimezone(timezone(timedelta(hours=2))).isoformat()
        assert await store.remove_expired_sessions(cet) == 1
        assert await store.find_session("later") is None
        assert await store.remove_expired_sessions(at(0)) == 0
        assert (await store.find_session("far")).expires_at == at(60 * 24 * 400)
        with pytest.raises(ValidationError):
            await store.remove_expired_sessions("yesterday")
    run(body())


def test_an_extended_session_outlives_its_first_expiry(store, run):
    async def body():
        await store.add_admin("alice", "h", ORG)
        await store.add_session(session("s1", expires_in=10))
        await store.extend_session("s1", at(40))
        assert await store.remove_expired_sessions(at(20)) == 0
        assert await store.remove_expired_sessions(at(40)) == 1
    run(body())


# the admin service's settings ---------------------------------------------------------------

CUSTOM_WEB = WebSettings(bindings=("127.0.0.1:8443",), http_bindings=("127.0.0.1:8080", "[::1]:8080"),
                         session_timeout=900)


def test_web_settings_default_per_server_and_round_trip(store, run):
    async def body():
        await store.add_server(SERVER, services_for("EX01"), PopSettings())
        await store.add_server(OTHER, services_for("EX02"), PopSettings(), web=DEV_WEB_SETTINGS)
        assert await store.get_web_settings("EX01") == WebSettings()
        assert await store.get_web_settings("EX02") == DEV_WEB_SETTINGS
        await store.put_web_settings("EX01", CUSTOM_WEB)
        assert await store.get_web_settings("EX01") == CUSTOM_WEB
        assert await store.get_web_settings("EX02") == DEV_WEB_SETTINGS, "each server has its own"
        for call in (store.get_web_settings("NOPE"), store.put_web_settings("NOPE", CUSTOM_WEB)):
            with pytest.raises(NotFound):
                await call
        with pytest.raises(ValidationError):
            await store.put_web_settings("EX01", {"session_timeout": 900})
        assert await store.get_web_settings("EX01") == CUSTOM_WEB
    run(body())


def test_web_settings_survive_reopen(make_store, run):
    async def body():
        store = make_store()
        await store.open()
        await store.migrate()
        await store.add_server(SERVER, services_for("EX01"), PopSettings(), (), CUSTOM_WEB)
        await store.close()
        store = make_store()
        await store.open()
        try:
            assert await store.get_web_settings("EX01") == CUSTOM_WEB
        finally:
            await store.close()
    run(body())


# the organization's login block policy -----------------------------------------------------

STRICT_POLICY = LoginPolicy(trusted_networks=("10.0.0.0/8", "2001:db8::/32"), max_source_failures=3,
                            max_mailbox_failures=5, window=1800, block_time=3600, max_delay=5)


def test_login_policy_defaults_then_round_trip(store, run):
    async def body():
        assert await store.get_login_policy() == LoginPolicy(), "a fresh store has the defaults"
        before = await store.config_version()
        await store.put_login_policy(STRICT_POLICY)
        assert await store.get_login_policy() == STRICT_POLICY
        assert await store.config_version() == before + 1, "the policy is configuration: nodes apply it"
        await store.put_login_policy(LoginPolicy(trusted_networks=()))
        assert await store.get_login_policy() == LoginPolicy(trusted_networks=())
        assert await store.config_version() == before + 2
        with pytest.raises(ValidationError):
            await store.put_login_policy({"max_source_failures": 3})
        assert await store.get_login_policy() == LoginPolicy(trusted_networks=())
        assert await store.config_version() == before + 2
    run(body())


def test_login_policy_is_organization_wide_and_survives_reopen(make_store, run):
    async def body():
        store = make_store()
        await store.open()
        await store.migrate()
        await store.add_server(SERVER, services_for("EX01"), PopSettings())
        await store.put_login_policy(STRICT_POLICY)
        await store.add_server(OTHER, services_for("EX02"), PopSettings())  # a server added later: the same
        await store.close()
        store = make_store()
        await store.open()
        try:
            assert await store.get_login_policy() == STRICT_POLICY
        finally:
            await store.close()
    run(body())


# configuration version ----------------------------------------------------------------------

def test_web_settings_are_configuration(store, run):
    async def body():
        await store.add_server(SERVER, services_for("EX01"), PopSettings())
        before = await store.config_version()
        await store.put_web_settings("EX01", CUSTOM_WEB)
        assert await store.config_version() == before + 1
        await store.put_web_settings("EX01", CUSTOM_WEB)
        assert await store.config_version() == before + 2, "every write counts, even an identical one"
        with pytest.raises(NotFound):
            await store.put_web_settings("NOPE", CUSTOM_WEB)
        assert await store.config_version() == before + 2
    run(body())


def test_admins_tokens_sessions_and_audit_are_not_configuration(store, run):
    async def body():
        await store.add_server(SERVER, services_for("EX01"), PopSettings())
        before = await store.config_version()
        await store.add_admin("alice", "h", ORG)
        await store.update_admin("alice", roles=VIEW, password_hash="h2")
        await store.add_token(token("t1"))
        await store.touch_token("t1", at(1))
        await store.remove_token("t1")
        await store.add_session(session("s1"))
        await store.extend_session("s1", at(90))
        await store.remove_session("s1")
        await store.add_session(session("s2", expires_in=-1))
        assert await store.remove_expired_sessions(at(0)) == 1
        await store.append_audit("alice", "x", "y", None, None, channel="api", outcome="refused", detail="no")
        await store.remove_admin("alice")
        assert await store.config_version() == before
    run(body())


# audit --------------------------------------------------------------------------------------

def test_audit_channel_outcome_and_detail_round_trip(store, run):
    async def body():
        plain = await store.append_audit("root", "init", "server/EX01", None, {"dev": True})
        assert (plain.channel, plain.outcome, plain.detail) == ("cli", "success", None)
        refused = await store.append_audit("bob", "mailbox.new", "alice@example.com", None, None,
                                           channel="console", outcome="refused", detail="needs recipient-management")
        assert refused == AuditEntry(refused.id, refused.at, "bob", "mailbox.new", "alice@example.com", None, None,
                                     "console", "refused", "needs recipient-management")
        api = await store.append_audit("alice", "pop.set", "server/EX01", {"a": 1}, {"a": 2}, channel="api")
        assert await store.list_audit() == [api, refused, plain]
        for bad in ({"channel": "smtp"}, {"outcome": "maybe"}, {"detail": 42}):
            with pytest.raises(ValidationError):
                await store.append_audit("root", "x", "y", None, None, **bad)
        assert len(await store.list_audit()) == 3, "a refused append stores nothing"
    run(body())


def test_list_audit_filters(store, run):
    async def body():
        rows = [  # actor, action, target, channel, outcome
            ("alice", "pop.set", "server/EX01", "cli", "success"),
            ("bob", "mailbox.new", "carol@example.com", "console", "refused"),
            ("alice", "mailbox.new", "carol@example.com", "api", "success"),
            ("bob", "pop.set", "server/EX01", "api", "refused"),
            ("alice", "mailbox.new", "dave@example.com", "console", "success"),
        ]
        e = [await store.append_audit(actor, action, target, None, None, channel=channel, outcome=outcome,
                                      detail="denied" if outcome == "refused" else None)
             for actor, action, target, channel, outcome in rows]
        la = store.list_audit
        assert await la() == e[::-1]
        assert await la(2) == [e[4], e[3]]
        assert await la(2, "carol@example.com") == [e[2], e[1]], "positional (limit, target) still works"
        assert await la(target="server/EX01") == [e[3], e[0]]
        assert await la(actor="alice") == [e[4], e[2], e[0]]
        assert await la(actor="ALICE") == [], "actor matches exactly"
        assert await la(action="mailbox.new") == [e[4], e[2], e[1]]
        assert await la(channel="api") == [e[3], e[2]]
        assert await la(channel="console") == [e[4], e[1]]
        assert await la(channel="cli") == [e[0]]
        assert await la(outcome="refused") == [e[3], e[1]]
        assert all(x.detail == "denied" for x in await la(outcome="refused"))
        assert await la(outcome="success", actor="alice", action="mailbox.new") == [e[4], e[2]]
        assert await la(1, actor="alice", channel="console") == [e[4]]
        assert await la(actor="bob", channel="cli") == []
        for bad in ({"channel": "smtp"}, {"outcome": "maybe"}, {"limit": -1}, {"since": "last week"}):
            with pytest.raises(ValidationError):
                await la(**bad)
    run(body())


def test_list_audit_since(store, run):
    async def body():
        e = [await store.append_audit("alice", f"a{n}", "t", None, None) for n in range(4)]
        assert all(is_utc_iso(x.at) for x in e)
        assert [x.at for x in e] == sorted(x.at for x in e)
        since = e[2].at
        expected = [x for x in reversed(e) if x.at >= since]
        assert e[2] in expected and e[0] not in expected and e[3] in expected
        assert await store.list_audit(since=since) == expected
        # the same instant written with another offset, or with Z, selects the same entries
        moment = datetime.fromisoformat(since)
        assert await store.list_audit(since=moment.astimezone(timezone(timedelta(hours=-5))).isoformat()) == expected
        assert await store.list_audit(since=moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")) == expected
        assert await store.list_audit(since="2000-01-01T00:00:00Z") == e[::-1]
        assert await store.list_audit(since=(datetime.now(timezone.utc) + timedelta(days=1)).isoformat()) == []
        assert await store.list_audit(1, since=since, action="a2") == [e[2]]
    run(body())


# lifecycle ----------------------------------------------------------------------------------

def test_admin_methods_need_an_open_store(make_store, run):
    async def body():
        store = make_store()
        await store.open()
        await store.migrate()
        await store.close()
        calls = [
            store.add_admin("alice", "h", ORG), store.get_admin("alice"), store.find_admin("alice"),
            store.list_admins(), store.update_admin("alice", password_hash="x"), store.remove_admin("alice"),
            store.add_token(token("t1")), store.find_token("t1"), store.list_tokens(),
            store.touch_token("t1", at(0)), store.remove_token("t1"), store.add_session(session("s1")),
            store.find_session("s1"), store.extend_session("s1", at(1)), store.remove_session("s1"),
            store.remove_expired_sessions(at(0)), store.get_web_settings("EX01"),
            store.put_web_settings("EX01", WebSettings()),
            store.list_audit(actor="alice", channel="api", outcome="refused", since=at(0)),
        ]
        for call in calls:
            with pytest.raises(Unavailable):
                await call
    run(body())


# audit --------------------------------------------------------------------------------------

def test_audit_newest_first_with_filter_and_limit(store, run):
    async def body():
        assert await store.list_audit() == []
        entries = []
        for n in range(5):
            target = "alice@example.com" if n % 2 == 0 else "pop3"
            entries.append(await store.append_audit(
                "admin@example.com", f"action.{n}", target, {"n": n, "list": [1, 2]} if n else None,
                {"n": n + 1, "nested": {"on": True}},
            ))
        first = entries[0]
        assert (first.actor, first.action, first.target, first.before) == (
            "admin@example.com", "action.0", "alice@example.com", None)
        assert first.after == {"n": 1, "nested": {"on": True}}
        assert entries[1].before == {"n": 1, "list": [1, 2]}
        assert all(is_utc_iso(e.at) for e in entries)
        assert len({e.id for e in entries}) == 5
        assert await store.list_audit() == list(reversed(entries))
        assert await store.list_audit(limit=2) == [entries[4], entries[3]]
        assert await store.list_audit(target="alice@example.com") == [entries[4], entries[2], entries[0]]
        assert await store.list_audit(limit=1, target="pop3") == [entries[3]]
        assert await store.list_audit(target="nobody") == []
    run(body())
