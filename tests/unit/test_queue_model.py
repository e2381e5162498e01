"""The outbound queue's model values (model/queue.py): queue names, queue ids, results."""
from __future__ import annotations

import re

import pytest

from postroom.errors import ValidationError
from postroom.model import (
    DNS_DELIVERY, SMART_HOST_DELIVERY, OutboundSubmission, QueueKey, RecipientResult, RecipientStatus, new_queue_id,
)


@pytest.mark.parametrize("key, name", [
    (QueueKey.dns("partner.example", "Internet"), "dns-connector-delivery/partner.example/Internet"),
    (QueueKey.dns("partner.example", "To partners / EU"), "dns-connector-delivery/partner.example/To partners / EU"),
    (QueueKey.smart_host("Relay/EU"), "smart-host-connector-delivery/Relay/EU"),
    (QueueKey("unreachable", "partner.example"), "unreachable/partner.example"),
])
def test_a_queue_name_names_its_next_hop_and_reads_back(key, name):
    assert key.name == name
    assert QueueKey.parse(name) == key
    assert QueueKey.parse(key) is key


def test_the_two_delivery_types_are_exchanges():
    assert (DNS_DELIVERY, SMART_HOST_DELIVERY) == ("dns-connector-delivery", "smart-host-connector-delivery")
    key = QueueKey.smart_host("Relay")
    assert (key.delivery_type, key.next_hop, key.connector) == (SMART_HOST_DELIVERY, "Relay", "Relay")


@pytest.mark.parametrize("text", ["", "partner.example", "dns-connector-delivery/partner.example", "Bad Type/x",
                                  "dns-connector-delivery//Internet", 7])
def test_a_bad_queue_name_is_refused_naming_the_field(text):
    with pytest.raises(ValidationError) as caught:
        QueueKey.parse(text)
    assert caught.value.field == "queue"


def test_queue_ids_look_like_the_smtp_ones():
    ids = {new_queue_id() for _ in range(100)}
    assert len(ids) == 100 and all(re.fullmatch(r"[0-9A-F]{12}", i) for i in ids)
    first, second = (OutboundSubmission("a@example.com", []) for _ in range(2))
    assert first.queue_id != second.queue_id  # each submission its own id, known to the caller


def test_a_pending_result_needs_its_next_attempt():
    with pytest.raises(ValidationError) as caught:
        RecipientResult("bob@partner.example", RecipientStatus.RETRY, "451").checked()
    assert caught.value.field == "next_attempt_at"
    checked = RecipientResult("bob@partner.example", "sent", "250").checked()  # type: ignore[arg-type]
    assert checked.status is RecipientStatus.SENT and RecipientStatus.RETRY.pending and not checked.status.pending
