"""Writing to the outbox: one row per idempotency key, in the caller's transaction, and a key
already held changes nothing (the caller goes on, its transaction intact)."""

from __future__ import annotations

import pytest
from django.db import transaction

from integrations.runtime.choices import OutboundStatus
from integrations.runtime.models import OutboundMessage
from integrations.runtime.outbox import enqueue_outbound
from tests.factories.integrations import erp_connection

pytestmark = pytest.mark.django_db

KEY = "erp:erp-main:sales-order:test"


def _enqueue(connection: object, payload: dict[str, object]) -> bool:
    return enqueue_outbound(
        connection,  # type: ignore[arg-type]
        kind="erp.sales_order.create",
        idempotency_key=KEY,
        payload=payload,
        correlation_id="00000000-0000-4000-8000-000000000001",
        subject_type="orders.order",
        subject_id="7",
    )


def test_enqueue_outbound_same_key_twice_keeps_the_first_and_the_transaction(
    django_assert_num_queries: object,
) -> None:
    # given
    connection = erp_connection(base_url="http://127.0.0.1:9/")
    # when: the same message twice in one transaction, then more work in it
    with transaction.atomic():
        with django_assert_num_queries(1):  # type: ignore[operator]
            first = _enqueue(connection, {"n": 1})
        with django_assert_num_queries(1):  # type: ignore[operator]
            second = _enqueue(connection, {"n": 2})
        still_usable = OutboundMessage.objects.filter(idempotency_key=KEY).count()
    # then
    assert (first, second, still_usable) == (True, False, 1)
    message = OutboundMessage.objects.get(idempotency_key=KEY)
    assert message.payload == {"n": 1}
    assert message.status == OutboundStatus.PENDING
    assert message.max_attempts > 0
    assert message.created_at is not None


def test_enqueue_outbound_rolled_back_with_its_transaction() -> None:
    # given
    connection = erp_connection(base_url="http://127.0.0.1:9/")
    # when
    with pytest.raises(RuntimeError), transaction.atomic():
        assert _enqueue(connection, {"n": 1})
        raise RuntimeError("the domain change failed")
    # then: nothing left, and the key is free again
    assert not OutboundMessage.objects.filter(idempotency_key=KEY).exists()
    assert _enqueue(connection, {"n": 2})
