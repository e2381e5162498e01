"""Two nodes (servers EX01 and EX02) on different loopback ports sharing one PostgreSQL
database: mail accepted by one is retrieved through the other byte-exact, the POP3 mailbox
lock holds across them, a change made through one node for the other applies there, a session
held by one is listed and ended through the other, killing a node mid-burst loses no
message that got "250", and an IMAP4 session idling on one node is woken within a second by
mail delivered through the other, also after PostgreSQL cut the nodes' listener connections.
One pair of nodes serves the whole module (each test has its own mailbox); a test that kills a
node starts it again."""
from __future__ import annotations

import asyncio
import itertools
import poplib
import smtplib
import ssl
import threading
import time
from typing import Iterator

import asyncpg
import imapclient
import pytest

from pg_support import fresh_store_url

from .harness import Postroom, wait_until
from .test_crash_safety import body_for, deliver_until_stopped
from .test_smtp_clients import split_trace

pytestmark = pytest.mark.e2e
PASSWORD = "pw-shared-1"
_numbers = itertools.count()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Postroom, Postroom]]:
    root = tmp_path_factory.mktemp("multinode")
    for url in fresh_store_url():
        node_a = Postroom(root / "a", server="EX01", store=url)
        node_b = Postroom(root / "b", server="EX02", store=url)
        node_a.init()
        node_b.init()  # joins the store: adds server EX02, touches nothing else
        node_a.start()
        node_b.start()
        try:
            yield node_a, node_b
        finally:
            node_a.stop()
            node_b.stop()


@pytest.fixture
def nodes(cluster: tuple[Postroom, Postroom]) -> Iterator[tuple[Postroom, Postroom]]:
    node_a, _ = cluster
    yield cluster
    if node_a.process is not None and node_a.process.poll() is not None:
        node_a.start()  # a test killed it


@pytest.fixture
def address(cluster: tuple[Postroom, Postroom]) -> str:
    """A new mailbox for this test, created through node EX01."""
    mailbox = f"shared{next(_numbers)}@example.com"
    cluster[0].new_mailbox(mailbox, PASSWORD)
    return mailbox


def login(node: Postroom, address: str) -> poplib.POP3_SSL:
    return node.pop_login(address, PASSWORD)


def retrieve_bodies(node: Postroom, address: str) -> list[bytes]:
    client = login(node, address)
    try:
        bodies = []
        for number in range(1, client.stat()[0] + 1):
            _, lines, _ = client.retr(number)
            bodies.append(split_trace(b"\r\n".join(lines) + b"\r\n")[2])
        return bodies
    finally:
        client.quit()


def test_joining_adds_one_server_and_shares_the_organisation(nodes, address):
    node_a, node_b = nodes
    servers = {row["server"] for row in node_b.cli_json("service", "list", "--server", "all")}
    assert servers == {"EX01", "EX02"}
    # Organisation-wide objects are shared; services and settings stay per server.
    assert address in [m["address"] for m in node_b.cli_json("mailbox", "list")["items"]]
    assert node_b.cli_json("pop", "show")["bindings"] == [f"127.0.0.1:{node_b.pop_port}"]
    assert node_b.cli_json("pop", "show", "--server", "EX01")["bindings"] == [f"127.0.0.1:{node_a.pop_port}"]


def test_mail_accepted_by_one_node_is_retrieved_through_the_other_byte_exact(nodes, address):
    node_a, node_b = nodes
    data = body_for(7, 1) + b"8-bit \xc3\xa9 and a long line " + b"y" * 900 + b"\r\n"
    with smtplib.SMTP("127.0.0.1", node_a.smtp_port, timeout=10) as client:
        client.ehlo("sender.example.net")
        client.sendmail("burst@example.net", [address], data)
    assert retrieve_bodies(node_b, address) == [data]


def test_a_pop3_session_on_one_node_makes_the_other_answer_in_use(nodes, address):
    node_a, node_b = nodes
    holder = login(node_a, address)
    try:
        client = node_b.pop_ssl()
        client.user(address)
        with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
            client.pass_(PASSWORD)
        client.close()
    finally:
        holder.quit()
    login(node_b, address).quit()  # released at QUIT: the other node may now open it


def test_a_session_on_one_node_is_listed_and_ended_through_the_other(nodes, address):
    node_a, node_b = nodes
    client = login(node_b, address)

    def listed() -> list[dict]:
        return [row for row in node_a.cli_json("session", "list")["sessions"] if row["user"] == address]
    (row,) = wait_until(listed, 5, "EX01's CLI to list the session held by EX02")
    assert (row["server"], row["service"], row["state"]) == ("EX02", "pop3", "authenticated")
    ended = node_a.cli("session", "end", row["id"]).stdout  # carried to EX02 through the database
    assert ended.strip() == f"Ended pop3 session {row['id']} of {address} from 127.0.0.1 on EX02"
    assert client.file.readline() == b"-ERR [SYS/TEMP] session ended by an administrator\r\n"
    client.close()


def test_a_node_that_dies_releases_its_mailbox_lock(nodes, address):
    node_a, node_b = nodes
    holder = login(node_a, address)
    node_a.kill()
    holder.close()

    def opens() -> bool:
        try:
            login(node_b, address).quit()
            return True
        except poplib.error_proto:
            return False
    wait_until(opens, 5, "node EX02 to open the mailbox the dead node held")


def test_a_login_type_change_made_through_one_node_applies_on_the_other(nodes, address):
    node_a, node_b = nodes

    def plain_user_accepted() -> bool:
        client = poplib.POP3("127.0.0.1", node_a.pop_port, timeout=10)
        try:
            client.user(address)
            client.pass_(PASSWORD)
            client.quit()
            return True
        except poplib.error_proto:
            client.close()
            return False

    assert not plain_user_accepted()  # secure-login: no password before STLS
    node_b.cli("pop", "set", "--server", "EX01", "--login-type", "plain-text-login")
    try:
        # The CLI returns once the store has it; the node it targets applies it within 2 s.
        wait_until(plain_user_accepted, 2.0, "EX01 to apply the login type set through EX02")
        assert node_b.cli_json("pop", "show")["login_type"] == "secure-login"  # EX02 keeps its own
    finally:
        node_b.cli("pop", "set", "--server", "EX01", "--login-type", "secure-login")


def test_sigkill_of_a_node_during_a_burst_loses_no_acknowledged_message(nodes, address):
    node_a, node_b = nodes
    acknowledged: dict[bytes, str] = {}
    lock, stop = threading.Lock(), threading.Event()

    def send(sender: int) -> None:
        deliver_until_stopped(node_a.smtp_port, address, sender, stop, acknowledged, lock)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(acknowledged) >= 60, 15, "a burst of deliveries")
    node_a.kill()  # mid-burst: deliveries are in flight right now
    with lock:
        promised = set(acknowledged)
    stop.set()
    for thread in threads:
        thread.join(20)

    stored = retrieve_bodies(node_b, address)  # no restart: the other node serves the shared store
    for body in stored:
        tag = body.split(b"Subject: burst ", 1)[1].split(b"\r\n", 1)[0].decode()
        assert body == body_for(*(int(x) for x in tag.split("-"))), f"message {tag} is not whole"
    missing = promised - set(stored)
    assert not missing, f"{len(missing)} acknowledged messages lost"


def idle_client(node: Postroom, address: str) -> imapclient.IMAPClient:
    """An IMAP4 session of `address` on `node`, idling on its INBOX."""
    client = imapclient.IMAPClient("127.0.0.1", node.imaps_port, ssl=True, timeout=10,
                                   ssl_context=ssl.create_default_context(cafile=node.cert))
    client.login(address, PASSWORD)
    client.select_folder("INBOX")
    client.idle()
    return client


def send(node: Postroom, address: str, subject: str) -> float:
    """Deliver through `node`'s SMTP; the time of its 250 (sendmail returns once it is read)."""
    with smtplib.SMTP("127.0.0.1", node.smtp_port, timeout=10) as smtp:
        smtp.sendmail("sender@example.net", [address], f"Subject: {subject}\r\n\r\nhello\r\n".encode())
        return time.monotonic()


def woken(client: imapclient.IMAPClient, count: int, timeout: float = 10) -> float:
    """The time the idling session was told of `count` messages (untagged EXISTS)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (count, b"EXISTS") in client.idle_check(timeout=max(0.0, deadline - time.monotonic())):
            return time.monotonic()
    raise AssertionError(f"no * {count} EXISTS within {timeout} s")


def test_imap_idle_on_one_node_hears_mail_delivered_through_the_other_within_a_second(nodes, address):
    """Node B's idling session is woken by node A's delivery through PostgreSQL's LISTEN/NOTIFY
    (node B does not poll the store for it), within a second of A's 250."""
    node_a, node_b = nodes
    client = idle_client(node_b, address)
    for count in (1, 2, 3):
        answered = send(node_a, address, f"across {count}")
        assert woken(client, count) - answered < 1.0
    client.idle_done()
    assert client.fetch([1], ["ENVELOPE"])[1][b"ENVELOPE"].subject == b"across 1"
    client.logout()


def test_idle_still_wakes_after_the_nodes_lose_their_listener_connections(nodes, address):
    """PostgreSQL ends both nodes' listener connections (a restart, a failover): each node
    listens again by itself, and a delivery made after that still wakes node B's session."""
    node_a, node_b = nodes
    client = idle_client(node_b, address)
    listeners = ("SELECT array_agg(pid ORDER BY pid) FROM pg_stat_activity"
                 " WHERE application_name = 'postroom_changes_' || current_schema()")
    before = asyncio.run(store_query(node_a.store, listeners))
    assert before is not None and len(before) == 2  # one per node
    killed = asyncio.run(store_query(node_a.store, listeners.replace("array_agg(pid ORDER BY pid)",
                                                                     "count(pg_terminate_backend(pid))")))
    assert killed == 2

    def listening_again() -> bool:
        now = asyncio.run(store_query(node_a.store, listeners))
        return now is not None and len(now) == 2 and not set(now) & set(before)
    wait_until(listening_again, 10, "both nodes to listen again")
    answered = send(node_a, address, "after the reconnection")
    assert woken(client, 1) - answered < 1.0
    client.idle_done()
    client.logout()


async def store_query(url: str | None, sql: str):
    assert url is not None
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()
