"""One write path in /admin/: every bypass tried as a real admin POST through the test client.

State, amounts, currency and source identity of canonical rows are read-only on change forms,
in inlines and in list_editable; transactional rows cannot be added, deleted or reverted from
history; what an admin may do to them is an action that calls the service, with history and
events naming the admin.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.test import Client

from controltower.core.admin_helpers import CanonicalAdmin, CanonicalInline
from controltower.core.context import acting_as
from controltower.core.models import CanonicalModel
from controltower.exceptions.choices import ExceptionState, ExceptionType
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import open_exception
from controltower.inventory.choices import ReservationStatus
from controltower.inventory.models import Reservation
from controltower.orders.choices import OrderEventType, OrderState
from controltower.orders.models import Order, OrderLine
from controltower.orders.services import register_order_in_erp, upsert_channel_order
from integrations.runtime.choices import InboundStatus
from integrations.runtime.models import InboundEvent, MessageAction
from integrations.woocommerce.translate import translate_order
from tests.factories.catalog import SKUFactory
from tests.factories.integrations import web_channel, woo_connection
from tests.factories.woocommerce import woo_order

CHANGELIST = "/admin/orders/order/"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _place(number: int = 1001, status: str = "processing", channel: Any = None) -> Order:
    data = translate_order(
        woo_order(number, status=status, modified=datetime(2026, 11, 22, 10, tzinfo=UTC)),
        source_system="woocommerce:woo-web",
    )
    with acting_as("sync.woocommerce"):
        return upsert_channel_order(channel or web_channel(), data).order


@pytest.fixture
def order(db: None) -> Order:
    for code in ("NW-TEE-001-BLK-M", "NW-CAP-002-NAV-OS"):
        SKUFactory(code=code)
    return _place()


@pytest.fixture
def admin_client(client: Client, admin_user: User) -> Client:
    client.force_login(admin_user)
    return client


class _FormFields(HTMLParser):
    """What a browser would submit from the page's main form: inputs, selects, textareas."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.data[name] = a.get("value", "on" if a.get("type") == "checkbox" else "")
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea] += data.removeprefix("\n")


def _form_data(client: Client, url: str) -> dict[str, str]:
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    parser = _FormFields()
    parser.feed(response.content.decode())
    return parser.data


def _messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- the change form ---------------------------------------------------------------------------
def test_admin_change_form_post_leaves_state_amounts_currency_and_identity_unchanged(
    admin_client: Client, admin_user: User, order: Order
) -> None:
    # given: the admin's own change form, as the browser would submit it, with forged values
    url = f"/admin/orders/order/{order.pk}/change/"
    before = Order.objects.get(pk=order.pk)
    data = _form_data(admin_client, url)
    assert "state" not in data and "total_amount" not in data  # shown, not editable
    data.update(
        state="cancelled",
        total_amount="0.01",
        subtotal_amount="0.01",
        currency="USD",
        external_id="forged-1",
        source_system="forged",
        correlation_id="00000000-0000-0000-0000-000000000000",
        erp_reference="SO-FORGED",
        customer_name="Corrected Name",  # an editable field: proves the POST was applied
    )
    # when
    response = admin_client.post(url, data)
    # then: saved (the editable correction went in), the protected fields did not
    assert (response.status_code, response["Location"]) == (302, CHANGELIST)
    after = Order.objects.get(pk=order.pk)
    assert after.customer_name == "Corrected Name"
    assert (
        after.state,
        after.total_amount,
        after.subtotal_amount,
        after.currency,
        after.external_id,
        after.source_system,
        after.correlation_id,
        after.erp_reference,
    ) == (
        OrderState.ACCEPTED,
        before.total_amount,
        before.subtotal_amount,
        "EUR",
        before.external_id,
        "woocommerce:woo-web",
        before.correlation_id,
        "",
    )
    latest = after.history.latest()  # type: ignore[attr-defined]
    assert latest.history_user == admin_user
    assert latest.state == OrderState.ACCEPTED


def test_admin_change_form_renders_protected_fields_as_text(
    admin_client: Client, order: Order
) -> None:
    # given / when
    response = admin_client.get(f"/admin/orders/order/{order.pk}/change/")
    # then
    html = response.content.decode()
    assert '<div class="readonly">Accepted</div>' in html
    assert 'name="state"' not in html
    assert 'name="total_amount"' not in html
    assert 'name="customer_name"' in html


def test_admin_inline_post_leaves_line_quantities_and_amounts_unchanged(
    admin_client: Client, order: Order
) -> None:
    # given: the order's lines in the inline, with forged quantity, status and amount, and an
    # extra line the admin tries to add
    url = f"/admin/orders/order/{order.pk}/change/"
    line = order.lines.get(line_number=1)
    data = _form_data(admin_client, url)
    assert (data["lines-INITIAL_FORMS"], data["lines-0-id"]) == ("2", str(line.pk))
    data.update(
        {
            "lines-0-quantity": "99",
            "lines-0-status": "cancelled",
            "lines-0-total_amount": "0.01",
            "lines-0-name": "Renamed line",  # editable: proves the inline was saved
            "lines-TOTAL_FORMS": "3",
            "lines-2-order": str(order.pk),
            "lines-2-line_number": "3",
            "lines-2-sku_code": "FORGED",
            "lines-2-name": "Forged line",
        }
    )
    # when
    response = admin_client.post(url, data)
    # then
    assert response.status_code == 302, response.content[:2000]
    after = OrderLine.objects.get(pk=line.pk)
    assert after.name == "Renamed line"
    assert (after.quantity, after.status, after.total_amount) == (
        line.quantity,
        line.status,
        line.total_amount,
    )
    assert sorted(order.lines.values_list("sku_code", flat=True)) == [
        "NW-CAP-002-NAV-OS",
        "NW-TEE-001-BLK-M",
    ]


def test_admin_add_order_is_refused(admin_client: Client, order: Order) -> None:
    # given
    data = {"channel": str(order.channel_id), "number": "9999", "state": "accepted"}
    # when
    page = admin_client.get("/admin/orders/order/add/")
    response = admin_client.post("/admin/orders/order/add/", data)
    # then
    assert (page.status_code, response.status_code) == (403, 403)
    assert Order.objects.count() == 1
    changelist = admin_client.get(CHANGELIST).content.decode()
    assert "/admin/orders/order/add/" not in changelist


def test_admin_delete_order_is_refused(admin_client: Client, order: Order) -> None:
    # given / when
    response = admin_client.post(f"/admin/orders/order/{order.pk}/delete/", {"post": "yes"})
    # then
    assert response.status_code == 403
    assert Order.objects.filter(pk=order.pk).exists()
    actions = admin_client.get(CHANGELIST).context["action_form"].fields["action"].choices
    assert "delete_selected" not in dict(actions)


def test_admin_history_revert_is_refused(admin_client: Client, order: Order) -> None:
    # given: the first history version, from before the order was registered in the ERP
    with acting_as("sync.erp"):
        register_order_in_erp(order, erp_reference="SO-1", connection="erp-main")
    first = order.history.earliest()  # type: ignore[attr-defined]
    assert (first.state, first.erp_reference) == (OrderState.ACCEPTED, "")
    url = f"/admin/orders/order/{order.pk}/history/{first.history_id}/"
    # when
    page = admin_client.get(url)
    response = admin_client.post(url, {"number": order.number, "channel": order.channel_id})
    # then: the old version can be read, not written back
    assert page.status_code == 200
    assert "Revert" not in page.context["title"]
    assert response.status_code == 403
    held = Order.objects.get(pk=order.pk)
    assert (held.state, held.erp_reference) == (OrderState.REGISTERED, "SO-1")


def test_canonical_admin_list_editable_protected_field_fails_the_check() -> None:
    # given: an admin that would let the changelist edit state and amount in place
    class BadOrderAdmin(CanonicalAdmin):
        list_display = ("number", "state", "total_amount", "customer_name")
        list_editable = ("state", "total_amount", "customer_name")

    # when
    bad = BadOrderAdmin(Order, admin.AdminSite(name="check"))
    errors = [e for e in bad.check() if e.id == "ct.E001"]
    # then
    assert [e.msg for e in errors] == [
        "list_editable contains 'state', which only a service may change.",
        "list_editable contains 'total_amount', which only a service may change.",
    ]
    assert bad.list_editable == ("customer_name",)  # never rendered as inputs either


def test_canonical_admin_plain_inline_of_canonical_model_fails_the_check() -> None:
    # given
    class PlainLines(admin.TabularInline):  # type: ignore[type-arg]
        model = OrderLine

    class BadOrderAdmin(CanonicalAdmin):
        inlines = (PlainLines,)

    # when
    errors = BadOrderAdmin(Order, admin.AdminSite(name="check")).check()
    # then
    assert [e.msg for e in errors if e.id == "ct.E002"] == [
        "inline PlainLines of canonical orders.OrderLine must be a CanonicalInline."
    ]


def test_every_canonical_model_is_registered_with_a_canonical_admin() -> None:
    # given
    canonical = [m for m in apps.get_models() if issubclass(m, CanonicalModel)]
    # when
    wrong = {
        m._meta.label: type(admin.site._registry.get(m)).__name__
        for m in canonical
        if not isinstance(admin.site._registry.get(m), CanonicalAdmin)
    }
    # then
    assert len(canonical) >= 31
    assert wrong == {}
    for model_admin in admin.site._registry.values():
        for inline in model_admin.inlines:
            assert not issubclass(inline.model, CanonicalModel) or issubclass(
                inline, CanonicalInline
            )


def test_master_data_add_form_takes_currency_but_identity_is_read_only(
    admin_client: Client,
) -> None:
    # given
    data = _form_data(admin_client, "/admin/catalog/channel/add/")
    assert "currency" in data and "source_system" not in data
    data.update(code="pos-estate", name="Stores", type="pos", currency="GBP")
    data["source_system"] = "forged"
    # when
    response = admin_client.post("/admin/catalog/channel/add/", data)
    # then
    assert response.status_code == 302, response.content[:2000]
    from controltower.catalog.models import Channel

    channel = Channel.objects.get(code="pos-estate")
    assert (channel.currency, channel.source_system) == ("GBP", "controltower")
    change = _form_data(admin_client, f"/admin/catalog/channel/{channel.pk}/change/")
    assert "currency" not in change


# --- actions call the services -----------------------------------------------------------------
def _act(client: Client, action: str, pks: list[int], reason: str = "", url: str = CHANGELIST):
    data = {"action": action, "_selected_action": [str(pk) for pk in pks], "index": "0"}
    if reason:
        data["reason"] = reason
    return client.post(url, data, follow=True)


def test_admin_cancel_action_goes_through_the_order_service(
    admin_client: Client, admin_user: User, order: Order
) -> None:
    # given: an accepted order with its stock reserved
    assert Reservation.objects.filter(order_line__order=order, status="open").count() == 2
    # when
    response = _act(admin_client, "cancel_orders", [order.pk], reason="customer called")
    # then: the state machine moved it, with the event, the history and the release
    assert _messages(response) == ["Orders cancelled: 1."]
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    event = order.events.filter(type=OrderEventType.STATE_CHANGED).latest("pk")
    assert (event.parameters, event.actor) == (
        {"old": "accepted", "new": "cancelled", "reason": "cancelled here: customer called"},
        admin_user,
    )
    latest = order.history.latest()  # type: ignore[attr-defined]
    assert latest.history_user == admin_user
    assert latest.history_change_reason == "accepted → cancelled: cancelled here: customer called"
    statuses = Reservation.objects.filter(order_line__order=order).values_list("status", flat=True)
    assert list(statuses) == [ReservationStatus.RELEASED] * 2


def test_admin_cancel_action_refused_transition_tells_the_admin(
    admin_client: Client, admin_user: User
) -> None:
    # given: a completed order cannot be cancelled
    done = _place(1002, status="completed")
    assert done.state == OrderState.COMPLETED
    # when
    response = _act(admin_client, "cancel_orders", [done.pk], reason="customer called")
    # then: told why, nothing changed, the refusal is on the timeline with the admin's name
    assert _messages(response) == [
        f"{done}: illegal order transition completed → cancelled",
    ]
    done.refresh_from_db()
    assert done.state == OrderState.COMPLETED
    refused = done.events.get(type=OrderEventType.TRANSITION_REFUSED)
    assert (refused.parameters["target"], refused.actor) == ("cancelled", admin_user)


def test_admin_cancel_action_needs_a_reason(admin_client: Client, order: Order) -> None:
    # given / when
    response = _act(admin_client, "cancel_orders", [order.pk])
    # then
    assert _messages(response) == ["Give a reason to cancel orders."]
    order.refresh_from_db()
    assert order.state == OrderState.ACCEPTED
    assert not order.events.filter(
        type=OrderEventType.STATE_CHANGED, parameters__new="cancelled"
    ).exists()


def test_admin_cancel_action_without_the_model_permission_is_not_run(
    client: Client, admin_user: User, order: Order
) -> None:
    # given: an admin whose role lacks orders.change_order (may view orders, not act on them)
    group = Group.objects.get(name="admin")
    group.permissions.remove(Permission.objects.get(codename="change_order"))
    client.force_login(admin_user)
    # when
    page = client.get(CHANGELIST)
    response = _act(client, "cancel_orders", [order.pk], reason="customer called")
    # then
    assert page.status_code == 200
    assert page.context["action_form"] is None  # no action is offered at all
    assert "Cancel selected orders" not in page.content.decode()
    assert (response.status_code, _messages(response)) == (200, [])  # and none was run
    order.refresh_from_db()
    assert order.state == OrderState.ACCEPTED


def test_admin_cancel_action_by_staff_user_without_admin_role_is_not_run(
    client: Client, order: Order
) -> None:
    # given: a staff user with the model permission but not the admin role
    staff = User.objects.create_user("sam.staff", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_order"))
    client.force_login(staff)
    # when
    response = client.post(
        CHANGELIST,
        {"action": "cancel_orders", "_selected_action": [str(order.pk)], "reason": "x"},
    )
    # then
    assert (response.status_code, response["Location"]) == (
        302,
        f"/admin/login/?next={CHANGELIST}",
    )
    order.refresh_from_db()
    assert order.state == OrderState.ACCEPTED


def _exception(key: str = "stuck:1") -> OpsException:
    return open_exception(
        type=ExceptionType.STUCK_ORDER, dedupe_key=key, title=f"Order stuck ({key})"
    )


def test_admin_exception_actions_go_through_the_exception_services(
    admin_client: Client, admin_user: User
) -> None:
    # given
    exc = _exception()
    url = "/admin/exceptions/opsexception/"
    # when
    assigned = _act(admin_client, "assign_to_me", [exc.pk], url=url)
    resolved = _act(admin_client, "resolve_exceptions", [exc.pk], reason="fixed by hand", url=url)
    again = _act(admin_client, "ignore_exceptions", [exc.pk], reason="no matter", url=url)
    # then
    assert _messages(assigned) == ["Exceptions assigned to you: 1."]
    assert _messages(resolved) == ["Exceptions resolved: 1."]
    assert _messages(again) == [f"{exc}: exception {exc.pk} is already resolved"]
    exc.refresh_from_db()
    assert (exc.state, exc.owner, exc.resolution_reason) == (
        ExceptionState.RESOLVED,
        admin_user,
        "fixed by hand",
    )
    latest = exc.history.latest()  # type: ignore[attr-defined]
    assert (latest.history_user, latest.history_change_reason) == (
        admin_user,
        "resolved: fixed by hand",
    )


def test_admin_exception_close_needs_a_reason(admin_client: Client) -> None:
    # given
    exc = _exception()
    # when
    response = _act(
        admin_client, "ignore_exceptions", [exc.pk], url="/admin/exceptions/opsexception/"
    )
    # then
    assert _messages(response) == ["Give a reason to close exceptions."]
    exc.refresh_from_db()
    assert exc.state == ExceptionState.OPEN


def _failed_event() -> InboundEvent:
    return InboundEvent.objects.create(
        connection=woo_connection(),
        topic="order.updated",
        resource="order",
        resource_id="1001",
        dedupe_key="test:1",
        body="{}",
        status=InboundStatus.FAILED,
        error="boom",
    )


def test_admin_inbound_event_retry_action_calls_the_runtime_service(
    admin_client: Client, admin_user: User
) -> None:
    # given
    event = _failed_event()
    url = "/admin/integrations/inboundevent/"
    # when
    response = _act(admin_client, "retry_selected", [event.pk], reason="fixed mapping", url=url)
    # then
    assert _messages(response) == ["Retried: 1."]
    event.refresh_from_db()
    assert event.status == InboundStatus.PENDING
    action = MessageAction.objects.get()
    assert (action.action, action.actor, action.reason) == ("retry", admin_user, "fixed mapping")


def test_admin_inbound_event_retry_refused_tells_the_admin(admin_client: Client) -> None:
    # given
    event = _failed_event()
    url = "/admin/integrations/inboundevent/"
    # when
    response = _act(admin_client, "retry_selected", [event.pk], url=url)
    # then
    assert _messages(response) == [f"{event}: a reason is required"]
    event.refresh_from_db()
    assert event.status == InboundStatus.FAILED
    assert not MessageAction.objects.exists()


def test_admin_inbound_event_change_form_is_read_only(admin_client: Client) -> None:
    # given
    event = _failed_event()
    url = f"/admin/integrations/inboundevent/{event.pk}/change/"
    # when
    response = admin_client.post(url, {"status": "processed", "body": '{"forged": 1}'})
    # then
    assert response.status_code == 403
    event.refresh_from_db()
    assert (event.status, event.body) == (InboundStatus.FAILED, "{}")


def test_admin_inbound_event_replay_action_feeds_it_through_the_inbox_again(
    admin_client: Client, admin_user: User
) -> None:
    # given
    event = _failed_event()
    url = "/admin/integrations/inboundevent/"
    # when
    response = _act(admin_client, "replay_selected", [event.pk], reason="mapping added", url=url)
    # then: a new event through the same path, the original kept, the person recorded
    assert _messages(response) == ["Replayed: 1."]
    replay = InboundEvent.objects.get(replay_of=event)
    assert (replay.status, replay.body, replay.topic) == (InboundStatus.PENDING, "{}", event.topic)
    action = MessageAction.objects.get()
    assert (action.action, action.result_id, action.actor) == ("replay", replay.pk, admin_user)


def test_admin_retry_action_without_the_replay_permission_is_not_run(
    client: Client, admin_user: User
) -> None:
    # given: an admin whose role lacks integrations.replay_message
    event = _failed_event()
    Group.objects.get(name="admin").permissions.remove(
        Permission.objects.get(codename="replay_message")
    )
    client.force_login(admin_user)
    url = "/admin/integrations/inboundevent/"
    # when
    page = client.get(url)
    response = _act(client, "retry_selected", [event.pk], reason="try again", url=url)
    # then
    assert (page.status_code, page.context["action_form"]) == (200, None)
    assert (response.status_code, _messages(response)) == (200, [])
    event.refresh_from_db()
    assert event.status == InboundStatus.FAILED
    assert not MessageAction.objects.exists()
