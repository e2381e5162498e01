"""The node's MailboxNotifier: idling sessions are called back, only for their own mailbox."""
from __future__ import annotations

from postroom.server.imap4_notify import MailboxNotifier


def test_a_change_calls_back_every_watcher_of_that_mailbox_only():
    notifier = MailboxNotifier()
    calls: list[str] = []
    first, second, other = (lambda: calls.append("first")), (lambda: calls.append("second")), \
        (lambda: calls.append("other"))
    notifier.watch(1, first)
    notifier.watch(1, second)
    notifier.watch(2, other)
    assert notifier.watching == 3
    notifier.changed([1])
    assert sorted(calls) == ["first", "second"]
    calls.clear()
    notifier.unwatch(1, first)
    notifier.changed(None)  # the feed was lost: every watched mailbox
    assert sorted(calls) == ["other", "second"]
    notifier.unwatch(1, second)
    notifier.unwatch(2, other)
    assert notifier.watching == 0 and not notifier._waiting  # nothing left per mailbox


def test_a_watcher_may_stop_watching_while_being_called():
    notifier = MailboxNotifier()
    calls: list[int] = []

    def once() -> None:
        calls.append(1)
        notifier.unwatch(7, once)

    notifier.watch(7, once)
    notifier.touch(7)
    notifier.touch(7)
    assert calls == [1]
