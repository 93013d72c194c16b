"""Live updates: the ops websocket admits only people who may see orders, and re-checks."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser, Group, User

from controltower.core.context import acting_as
from controltower.dashboards import consumers
from controltower.dashboards.consumers import DashboardConsumer
from controltower.orders.services import upsert_channel_order
from integrations.woocommerce.translate import translate_order
from tests.factories.integrations import web_channel
from tests.factories.woocommerce import woo_order


def communicator_for(user: Any) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(DashboardConsumer.as_asgi(), "/ws/dashboard/")
    communicator.scope["user"] = user
    return communicator


def connect(user: Any) -> tuple[WebsocketCommunicator, bool]:
    communicator = communicator_for(user)
    connected, _ = async_to_sync(communicator.connect)()
    return communicator, connected


def accept(number: int) -> Any:
    with acting_as("sync.woocommerce"):
        data = translate_order(woo_order(number), source_system="woocommerce:woo-web")
        return upsert_channel_order(web_channel(), data).order


@pytest.mark.django_db(transaction=True)
def test_dashboard_consumer_denies_anonymous() -> None:
    # given / when
    _, connected = connect(AnonymousUser())
    # then
    assert connected is False


@pytest.mark.django_db(transaction=True)
def test_dashboard_consumer_denies_wrong_role(exec_viewer) -> None:
    # given / when
    _, connected = connect(exec_viewer)
    # then
    assert connected is False


@pytest.mark.django_db(transaction=True)
def test_dashboard_consumer_pushes_new_order_row_to_ops(ops_user) -> None:
    async def scenario() -> tuple[Any, str]:
        # given
        communicator = communicator_for(ops_user)
        connected, _ = await communicator.connect()
        assert connected
        # when: an order is accepted elsewhere and its transaction commits
        order = await sync_to_async(accept)(5001)
        message = await communicator.receive_from(timeout=5)
        await communicator.disconnect()
        return order, message

    order, message = async_to_sync(scenario)()
    # then
    assert f'id="order-{order.pk}"' in message
    assert 'hx-swap-oob="afterbegin:#orders-live-body"' in message
    assert "5001" in message and "Accepted" in message


@pytest.mark.django_db(transaction=True)
def test_dashboard_consumer_rechecks_permission_per_event(ops_user, monkeypatch) -> None:
    async def scenario() -> tuple[Any, str, bool]:
        # given: two ops staff connected; one of them then loses the ops role
        leaver = await sync_to_async(User.objects.create_user)("lee.leaver")
        ops = await sync_to_async(Group.objects.get)(name="ops")
        await sync_to_async(leaver.groups.add)(ops)
        stays, lost = communicator_for(ops_user), communicator_for(leaver)
        assert (await stays.connect())[0] and (await lost.connect())[0]
        await sync_to_async(leaver.groups.remove)(ops)
        monkeypatch.setattr(consumers, "PERMISSION_TTL_S", 0.0)
        # when: an order is accepted and its push goes to the ops group
        order = await sync_to_async(accept)(5002)
        received = await stays.receive_from(timeout=5)
        nothing = await lost.receive_nothing(timeout=1.5)
        await stays.disconnect()
        await lost.disconnect()
        return order, received, nothing

    order, received, nothing = async_to_sync(scenario)()
    # then: the one who still may see orders got the row; the one who lost the role got nothing
    assert f'id="order-{order.pk}"' in received
    assert "5002" in received
    assert nothing is True
