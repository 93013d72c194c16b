"""The canonical base: identity, dedupe, staleness and history; and the Money value object."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, models, transaction

from controltower.catalog.choices import ChannelType, LocationType
from controltower.catalog.models import Channel, Location, Product
from controltower.core.context import acting_as
from controltower.core.models import CanonicalModel, stamp
from controltower.core.money import Money, MoneyError, to_decimal
from controltower.core.writepath import service_scope
from controltower.finance.choices import AccountType
from controltower.finance.models import GLAccount

CANONICAL_MODELS = sorted(
    (m for m in apps.get_models() if issubclass(m, CanonicalModel)), key=lambda m: m._meta.label
)
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _source_constraint(model: type[models.Model]) -> models.UniqueConstraint:
    name = f"{model._meta.app_label}_{model._meta.model_name}_source_uniq"
    matches = [c for c in model._meta.constraints if c.name == name]
    assert matches, f"{model._meta.label} has no constraint {name}"
    return matches[0]  # type: ignore[return-value]


# --- every canonical model ---------------------------------------------------------------------
# Every canonical model the domain and the runtime define today (a new one is added here).
EXPECTED_CANONICAL = {
    "catalog.Channel",
    "catalog.Location",
    "catalog.Product",
    "catalog.SKU",
    "catalog.SKUCrossReference",
    "exceptions.OpsException",
    "finance.CreditMemo",
    "finance.FiscalPeriod",
    "finance.GLAccount",
    "finance.GLMapping",
    "finance.Invoice",
    "finance.JournalEntry",
    "finance.JournalLine",
    "fulfilment.CarrierEvent",
    "fulfilment.Shipment",
    "fulfilment.ShipmentLine",
    "integrations.Connection",
    "integrations.MessageAction",
    "inventory.ChannelAllocationRule",
    "inventory.Reservation",
    "inventory.StockPosition",
    "orders.ChannelStatusMapping",
    "orders.Order",
    "orders.OrderLine",
    "payments.Payment",
    "payments.PaymentTransaction",
    "payments.Settlement",
    "payments.SettlementLine",
    "returns.Refund",
    "returns.ReturnAuthorization",
    "returns.ReturnLine",
}


def test_canonical_models_are_all_found() -> None:
    # given: every model that records a source identity (history copies aside)
    sourced = {
        m._meta.label
        for m in apps.get_models()
        if any(f.name == "source_system" for f in m._meta.fields)
        and not m._meta.object_name.startswith("Historical")
    }
    # when
    found = {m._meta.label for m in CANONICAL_MODELS}
    # then: the discovery the parametrized tests use finds each of them, and only them
    assert EXPECTED_CANONICAL - found == set()
    assert found == sourced


@pytest.mark.parametrize("model", CANONICAL_MODELS, ids=lambda m: m._meta.label)
def test_canonical_model_has_history_manager(model: type[models.Model]) -> None:
    # given / when
    history_model = model.history.model  # type: ignore[attr-defined]
    # then
    assert (
        history_model._meta.db_table
        == f"{model._meta.app_label}_historical{model._meta.model_name}"
    )
    assert {"history_user", "history_change_reason", "history_type"} <= {
        f.name for f in history_model._meta.fields
    }


@pytest.mark.parametrize("model", CANONICAL_MODELS, ids=lambda m: m._meta.label)
def test_canonical_model_declares_source_identity_constraint(model: type[models.Model]) -> None:
    # given / when
    constraint = _source_constraint(model)
    # then
    assert isinstance(constraint, models.UniqueConstraint)
    assert tuple(constraint.fields) == ("source_system", "external_id")
    assert constraint.condition is not None  # empty external ids never collide


@pytest.mark.django_db
@pytest.mark.parametrize("model", CANONICAL_MODELS, ids=lambda m: m._meta.label)
def test_canonical_model_source_identity_index_exists_in_database(
    model: type[models.Model],
) -> None:
    # given
    name = _source_constraint(model).name
    # when
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    # then
    assert name in found, f"{name} missing from table {model._meta.db_table}"
    assert found[name]["unique"] is True
    assert found[name]["columns"] == ["source_system", "external_id"]


_BUILDERS: dict[str, Callable[[int, str], models.Model]] = {
    "product": lambda n, ext: Product(name=f"Product {n}", source_system="erp", external_id=ext),
    "channel": lambda n, ext: Channel(
        code=f"ch-{n}",
        name=f"Channel {n}",
        type=ChannelType.WOOCOMMERCE,
        source_system="erp",
        external_id=ext,
    ),
    "location": lambda n, ext: Location(
        code=f"loc-{n}",
        name=f"Location {n}",
        type=LocationType.WAREHOUSE,
        source_system="erp",
        external_id=ext,
    ),
    "glaccount": lambda n, ext: GLAccount(
        code=f"{4000 + n}",
        name=f"Account {n}",
        type=AccountType.REVENUE,
        source_system="erp",
        external_id=ext,
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(_BUILDERS))
def test_canonical_model_duplicate_external_id_is_refused(kind: str) -> None:
    # given
    build = _BUILDERS[kind]
    build(1, "X-1").save()
    duplicate = build(2, "X-1")
    # when
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        duplicate.save()
    # then
    assert "_source_uniq" in str(raised.value)
    assert type(duplicate).objects.filter(external_id="X-1").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(_BUILDERS))
def test_canonical_model_two_empty_external_ids_are_allowed(kind: str) -> None:
    # given
    build = _BUILDERS[kind]
    build(1, "").save()
    # when
    build(2, "").save()
    # then
    model = type(build(3, ""))
    assert model.objects.filter(source_system="erp", external_id="").count() == 2


@pytest.mark.django_db
def test_canonical_model_same_external_id_in_another_source_is_allowed() -> None:
    # given
    Product.objects.create(name="A", source_system="erp", external_id="X-1")
    # when
    Product.objects.create(name="B", source_system="pos", external_id="X-1")
    # then
    assert Product.objects.filter(external_id="X-1").count() == 2


# --- staleness ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("held", "offered", "stale"),
    [
        (T0, T0 - timedelta(seconds=1), True),
        (T0, T0, False),
        (T0, T0 + timedelta(seconds=1), False),
        (None, T0, False),
        (T0, None, False),
    ],
    ids=["older", "same", "newer", "nothing-held", "nothing-offered"],
)
def test_is_stale_compares_source_modification_times(
    held: datetime | None, offered: datetime | None, stale: bool
) -> None:
    # given
    product = Product(name="P", source_updated_at=held)
    # when
    result = product.is_stale(offered)
    # then
    assert result is stale


# --- history -----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_history_row_records_service_actor_and_reason() -> None:
    # given
    product = Product(name="Tee")
    # when
    with acting_as("sync.woocommerce"), service_scope():  # as inside a catalog service
        stamp(product, "imported from catalogue")
        product.save()
    # then
    record = product.history.get()  # type: ignore[attr-defined]
    assert record.history_type == "+"
    assert record.history_user.username == "sync.woocommerce"
    assert record.history_user.is_active is False
    assert record.history_change_reason == "imported from catalogue"


@pytest.mark.django_db
def test_history_row_per_change_with_its_own_reason() -> None:
    # given
    with acting_as("sync.erp"), service_scope():
        product = Product.objects.create(name="Tee")
    # when
    with acting_as("system.reconciler"), service_scope():
        product.name = "Tee (black)"
        stamp(product, "renamed to match ERP")
        product.save()
    # then
    latest, first = list(product.history.order_by("-history_id"))  # type: ignore[attr-defined]
    assert (first.history_user.username, first.name) == ("sync.erp", "Tee")
    assert latest.history_type == "~"
    assert latest.history_user.username == "system.reconciler"
    assert latest.history_change_reason == "renamed to match ERP"
    assert latest.diff_against(first).changed_fields == ["name"]


def test_acting_as_unknown_service_user_is_refused() -> None:
    # given / when
    with pytest.raises(ValueError) as raised, acting_as("sync.nowhere"):
        pass  # pragma: no cover
    # then
    assert "unknown service user 'sync.nowhere'" in str(raised.value)


# --- money -------------------------------------------------------------------------------------
def test_money_refuses_float_amount() -> None:
    # given / when
    with pytest.raises(MoneyError) as raised:
        Money(19.95, "EUR")  # type: ignore[arg-type]
    # then
    assert str(raised.value) == "amounts must not be floats"


def test_to_decimal_refuses_float() -> None:
    # given / when
    with pytest.raises(MoneyError) as raised:
        to_decimal(0.1)
    # then
    assert str(raised.value) == "amounts must not be floats"


@pytest.mark.parametrize("value", ["abc", "", "NaN", "Infinity"])
def test_to_decimal_refuses_non_amounts(value: str) -> None:
    # given / when
    with pytest.raises(MoneyError) as raised:
        to_decimal(value)
    # then
    assert repr(value) in str(raised.value)


def test_to_decimal_parses_strings_to_four_places() -> None:
    # given / when
    amount = to_decimal(" 12.30 ")
    # then
    assert amount == Decimal("12.3000")
    assert amount.as_tuple().exponent == -4


@pytest.mark.parametrize("op", ["add", "sub"])
def test_money_refuses_currency_mismatch(op: str) -> None:
    # given
    euros, dollars = Money(Decimal("10"), "EUR"), Money(Decimal("10"), "USD")
    # when
    with pytest.raises(MoneyError) as raised:
        euros + dollars if op == "add" else euros - dollars
    # then
    assert str(raised.value) == "currency mismatch: EUR vs USD"


def test_money_arithmetic_in_one_currency() -> None:
    # given
    a, b = Money(Decimal("10.10"), "eur"), Money(Decimal("0.05"), "EUR")
    # when
    total = (a + b) * 2 - Money.zero("EUR")
    # then
    assert total == Money(Decimal("20.30"), "EUR")
    assert str(total) == "20.30 EUR"


def test_money_refuses_bad_currency_code() -> None:
    # given / when
    with pytest.raises(MoneyError) as raised:
        Money(Decimal(1), "EURO")
    # then
    assert str(raised.value) == "not a currency code: 'EURO'"
