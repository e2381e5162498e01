"""Activity counters: what the dashboard's chart shows, counted in memory on the hot path.

Sans I/O, below the server and service layers, which both use it: POP3, IMAP4 and SMTP sessions
call `record(kind)` (a dict increment); the node drains the counts into the store
once per heartbeat (`Store.add_activity`). Buckets are 10 minutes of wall-clock time (UTC),
named by their start in the store's ISO-8601 form (service/activity.py reads them back).
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable, Mapping

BUCKET_SECONDS = 600
POP3_LOGIN_OK = "pop3-login-ok"
POP3_LOGIN_FAILED = "pop3-login-failed"
IMAP4_LOGIN_OK = "imap4-login-ok"
IMAP4_LOGIN_FAILED = "imap4-login-failed"
# Each client-access service's (succeeded, failed) login kinds: what report_login counts.
LOGIN_KINDS = {"pop3": (POP3_LOGIN_OK, POP3_LOGIN_FAILED), "imap4": (IMAP4_LOGIN_OK, IMAP4_LOGIN_FAILED)}
SMTP_DELIVERED = "smtp-delivered"  # one per message accepted, however many recipients
# Outbound delivery (the delivery worker): recipients sent to their next hop, and failed
# (permanently, or expired); the queue's length sampled every few seconds, as a sum and a
# count of samples per bucket, so that the mean length per bucket adds up across flushes.
OUTBOUND_SENT = "outbound-sent"
OUTBOUND_FAILED = "outbound-failed"
QUEUE_LENGTH_SUM = "outbound-queue-sum"
QUEUE_LENGTH_SAMPLES = "outbound-queue-samples"
KINDS = (POP3_LOGIN_OK, POP3_LOGIN_FAILED, IMAP4_LOGIN_OK, IMAP4_LOGIN_FAILED, SMTP_DELIVERED, OUTBOUND_SENT,
         OUTBOUND_FAILED, QUEUE_LENGTH_SUM, QUEUE_LENGTH_SAMPLES)
KEEP_SECONDS = 24 * 3600  # counts that could not be stored for this long are dropped

Counts = dict[tuple[str, str], int]  # (bucket, kind) -> count


def bucket_start(moment: float) -> int:
    """The unix time at which the bucket holding `moment` starts."""
    return int(moment // BUCKET_SECONDS) * BUCKET_SECONDS


def bucket_name(start: float) -> str:
    """A bucket's name: its start as ISO-8601 UTC with microseconds, as the store keeps times."""
    return datetime.fromtimestamp(bucket_start(start), timezone.utc).isoformat(timespec="microseconds")


class Activity:
    """Counts per (bucket, kind) since the last `drain()`."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: Counts = {}
        self._start = self._end = 0.0
        self._bucket = ""

    def record(self, kind: str, count: int = 1) -> None:
        now = self._clock()
        if not self._start <= now < self._end:  # a new bucket (or the clock was set back)
            self._start = float(bucket_start(now))
            self._end = self._start + BUCKET_SECONDS
            self._bucket = bucket_name(self._start)
        key = (self._bucket, kind)
        self._counts[key] = self._counts.get(key, 0) + count

    def drain(self) -> Counts:
        """The counts so far; counting starts again from zero."""
        counts, self._counts = self._counts, {}
        return counts

    def restore(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Put back counts the store did not take, for the next try; a day-old bucket is
        dropped so that a store that stays down cannot make this grow without end."""
        oldest = bucket_name(self._clock() - KEEP_SECONDS)
        for key, count in counts.items():
            if key[0] >= oldest:
                self._counts[key] = self._counts.get(key, 0) + count
