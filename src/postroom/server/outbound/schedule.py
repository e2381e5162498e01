"""When to try a recipient again, when to give up, when to tell the sender it is late.

Exchange's transport timers (Set-TransportService), applied per recipient:
- a next hop that cannot be reached (no connection, a timeout, a 4xx greeting) is retried
  `transient_failure_retry_attempts` times every `transient_failure_retry_interval`, then every
  `outbound_connection_failure_retry_interval`;
- a recipient the next hop deferred (4xx to RCPT or to the data) is retried every
  `message_retry_interval`;
- a message still undelivered `delay_notification_timeout` after it arrived gets one delay
  notice; after `message_expiration_timeout` it expires (a non-delivery report, 4.4.7).
Pure: times are epoch seconds, given by the caller (whose clock tests can drive).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

CONNECTION, RECIPIENT = "connection", "recipient"  # what failed


@dataclass(frozen=True)
class RetryPolicy:
    transient_attempts: int = 6
    transient_interval: float = 300.0
    connection_failure_interval: float = 600.0
    message_retry_interval: float = 900.0
    delay_notification: float = 4 * 3600.0
    expiration: float = 2 * 86400.0

    def next_attempt(self, failure: str, attempts: int, now: float) -> float:
        """`attempts`: how many attempts this recipient has had, this one included."""
        if failure == RECIPIENT:
            return now + self.message_retry_interval
        if attempts <= self.transient_attempts:
            return now + self.transient_interval
        return now + self.connection_failure_interval

    def expired(self, arrival: float, now: float) -> bool:
        return now >= arrival + self.expiration

    def expires_at(self, arrival: float) -> float:
        return arrival + self.expiration

    def delay_notice_due(self, arrival: float, now: float, notified: bool) -> bool:
        return not notified and self.delay_notification > 0 and now >= arrival + self.delay_notification


def to_epoch(iso: str) -> float:
    when = datetime.fromisoformat(iso)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def to_iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="microseconds")
