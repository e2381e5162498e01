"""`postroom test imap ADDRESS`: Exchange's Test-ImapConnectivity. Light: connect the way the
application does (SSL, STARTTLS or plain), log in and SELECT INBOX. Full: also submit a test
message through the Client connector, find it in INBOX (SEARCH HEADER), FETCH it, and delete
it again (STORE \\Deleted, EXPUNGE).
"""
from __future__ import annotations

from ..model import LoginType
from ..storage import ConfigReader
from .connectivity import Run, Scenario, _submit
from .probe import StepFailed, Steps
from .probe_imap import imap_session, logout


async def cleartext_allowed(store: ConfigReader, server: str, mode: str) -> bool:
    """The password may be sent before TLS only when the application connects in plain and the
    login type lets it (plain-text-login): the test does what that application does."""
    settings = await store.get_imap_settings(server)
    return mode == "plain" and settings.login_type == LoginType.PLAIN_TEXT_LOGIN


def _connect(run: Run, steps: Steps) -> None:
    ends = run.ends
    if ends.pop_port is None:
        raise StepFailed("connect", f"no IMAP4 binding for client mode {ends.pop_mode}")
    run.imap = imap_session(steps, ends.pop_host, ends.pop_port, ends.pop_mode, ends.pop_context)


def _login(run: Run, steps: Steps) -> None:
    if run.refused:
        raise StepFailed("login", run.refused)
    with steps.step("login") as step:
        step.info = run.imap.login(run.address, run.password, allow_cleartext=run.ends.cleartext)
    with steps.step("SELECT") as step:
        step.info = run.imap.select("INBOX")


def _logout(run: Run, steps: Steps) -> None:
    if run.imap is not None:
        client, run.imap = run.imap, None
        logout(steps, client)


def _logon(run: Run, steps: Steps) -> None:
    _login(run, steps)
    _logout(run, steps)


def _retrieve(run: Run, steps: Steps) -> None:
    _connect(run, steps)
    _login(run, steps)
    client = run.imap
    with steps.step("SEARCH"):
        found = [word for reply in client.command(f'UID SEARCH HEADER X-Postroom-Test "{run.token}"', "SEARCH")
                 if reply.upper().startswith("* SEARCH") for word in reply.split()[2:]]
        if not found:
            raise StepFailed("SEARCH", "the test message is not in INBOX (did an application move or delete it?)")
        run.number = int(found[-1])  # its UID
    with steps.step("FETCH"):
        replies = client.command(f"UID FETCH {run.number} (BODY.PEEK[HEADER.FIELDS (X-POSTROOM-TEST)])", "FETCH")
        if not any(run.token in reply for reply in replies):
            raise StepFailed("FETCH", "the fetched message is not the test message")


def _delete(run: Run, steps: Steps) -> None:
    assert run.imap is not None and run.number is not None
    with steps.step("STORE"):
        run.imap.command(f"UID STORE {run.number} +FLAGS.SILENT (\\Deleted)", "STORE")
    with steps.step("EXPUNGE"):
        run.imap.command(f"UID EXPUNGE {run.number}", "EXPUNGE")
    _logout(run, steps)


IMAP_LIGHT: list[Scenario] = [("Connect", _connect), ("Log on", _logon)]
IMAP_FULL: list[Scenario] = [*IMAP_LIGHT, ("Send test message", _submit),
                             ("Retrieve test message", _retrieve), ("Delete test message", _delete)]
