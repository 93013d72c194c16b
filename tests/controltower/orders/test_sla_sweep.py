"""The stuck-order sweep against the stage SLAs: it opens one exception per order and stage, opens
nothing twice, and closes what is no longer stuck (the order moved on, the SLA was raised)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from django.conf import settings

from controltower.core.context import acting_as
from controltower.core.writepath import service_scope
from controltower.exceptions.choices import ExceptionState, ExceptionType
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import ignore_exception, resolve_exception
from controltower.orders import tasks
from controltower.orders.choices import OrderStage, OrderState
from controltower.orders.models import Order, StageSLA
from controltower.orders.services import cancel_order
from controltower.orders.sla import format_age, sweep_stuck
from tests.factories import lifecycle

pytestmark = pytest.mark.django_db


def _sla(stage: str, minutes: int, *, enabled: bool = True) -> StageSLA:
    return StageSLA.objects.create(stage=stage, minutes=minutes, enabled=enabled)


def _later(order: Order, **delta: int) -> datetime:
    order.refresh_from_db()
    return order.stage_changed_at + timedelta(**delta)


def _stuck(order: Order) -> list[OpsException]:
    return list(
        OpsException.objects.filter(type=ExceptionType.STUCK_ORDER, subject_id=str(order.pk))
    )


def test_sweep_opens_one_exception_naming_stage_system_age_and_sla() -> None:
    # given: an order released to the warehouse, and the released SLA of an hour
    order = lifecycle.take_to(lifecycle.web_order(), "released")
    _sla(OrderStage.RELEASED, 60)
    # when the sweep runs 2 h 5 min after it entered the stage
    result = sweep_stuck(now=_later(order, hours=2, minutes=5))
    # then
    assert result.opened == 1
    [exception] = _stuck(order)
    assert exception.title == (
        "Order web-1001 stuck in released for 2 h 5 min: waiting on WMS (SLA 60 min)"
    )
    assert exception.dedupe_key == f"stuck:{order.pk}:released"
    assert exception.state == ExceptionState.OPEN
    assert (exception.money_at_risk_amount, exception.currency) == (order.total_amount, "EUR")
    assert exception.correlation_id == order.correlation_id


def test_sweep_leaves_orders_within_their_sla_alone() -> None:
    # given
    order = lifecycle.web_order()
    _sla(OrderStage.ACCEPTED, 60)
    # when: 59 minutes in the stage
    result = sweep_stuck(now=_later(order, minutes=59))
    # then
    assert (result.opened, _stuck(order)) == (0, [])


def test_sweep_run_twice_opens_nothing_new() -> None:
    # given
    order = lifecycle.web_order()
    _sla(OrderStage.ACCEPTED, 30)
    first = sweep_stuck(now=_later(order, minutes=45))
    # when
    second = sweep_stuck(now=_later(order, minutes=90))
    # then: the one exception is kept, as it was
    assert (first.opened, second.opened, second.kept, second.closed) == (1, 0, 1, 0)
    [exception] = _stuck(order)
    assert exception.state == ExceptionState.OPEN
    assert "for 45 min" in exception.title


def test_sweep_exception_closes_when_the_order_moves_on() -> None:
    # given: a stuck order waiting on the gateway
    order = lifecycle.web_order()
    _sla(OrderStage.ACCEPTED, 30)
    sweep_stuck(now=_later(order, minutes=45))
    # when the gateway captures the payment (a real domain step) and the sweep runs again
    lifecycle.pay(order)
    result = sweep_stuck(now=_later(order, minutes=45))
    # then the exception was resolved by the stage change, and nothing reopened
    [exception] = _stuck(order)
    order.refresh_from_db()
    assert order.stage == OrderStage.PAYMENT_CAPTURED
    assert exception.state == ExceptionState.RESOLVED
    assert exception.resolution_reason == "order moved on to payment_captured"
    assert (result.opened, result.closed) == (0, 0)


def test_sweep_closes_the_exception_of_a_cancelled_order(ops_user: object) -> None:
    # given: a stuck order, cancelled afterwards (it leaves the stage for good)
    order = lifecycle.web_order()
    _sla(OrderStage.ACCEPTED, 30)
    sweep_stuck(now=_later(order, minutes=45))
    cancel_order(order, actor=ops_user, reason="customer called")
    # when
    sweep_stuck(now=_later(order, minutes=45))
    # then
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    assert [e.state for e in _stuck(order)] == [ExceptionState.RESOLVED]


def test_sweep_raised_sla_closes_the_exception() -> None:
    # given
    order = lifecycle.web_order()
    sla = _sla(OrderStage.ACCEPTED, 30)
    now = _later(order, minutes=45)
    sweep_stuck(now=now)
    # when the SLA is raised past the order's age
    sla.minutes = 120
    sla.save()
    result = sweep_stuck(now=now)
    # then
    [exception] = _stuck(order)
    assert result.closed == 1
    assert exception.state == ExceptionState.RESOLVED
    assert exception.resolution_reason == "no longer past the accepted SLA of 120 min"


def test_sweep_disabled_sla_opens_nothing_and_closes_what_it_opened() -> None:
    # given: a disabled SLA the order is far past
    order = lifecycle.web_order()
    sla = _sla(OrderStage.ACCEPTED, 30, enabled=False)
    now = _later(order, hours=5)
    # when
    result = sweep_stuck(now=now)
    # then
    assert (result.opened, _stuck(order)) == (0, [])
    # and an SLA switched off after it opened one closes it
    sla.enabled = True
    sla.save()
    sweep_stuck(now=now)
    sla.enabled = False
    sla.save()
    sweep_stuck(now=now)
    [exception] = _stuck(order)
    assert exception.state == ExceptionState.RESOLVED
    assert exception.resolution_reason == "no SLA is enabled for accepted any more"


def test_sweep_does_not_reopen_what_a_person_ignored_but_reopens_a_resolved_one(
    ops_user: object,
) -> None:
    # given: two stuck orders; ops ignore one exception and resolve the other
    ignored_order, resolved_order = lifecycle.web_order(1001), lifecycle.web_order(1002)
    _sla(OrderStage.ACCEPTED, 30)
    now = _later(resolved_order, hours=1)
    sweep_stuck(now=now)
    with acting_as(ops_user):
        ignore_exception(_stuck(ignored_order)[0], reason="customer pays by bank transfer")
        resolve_exception(_stuck(resolved_order)[0], reason="nudged the gateway")
    # when
    result = sweep_stuck(now=now)
    # then: the ignored stays quiet for this stay in the stage; the resolved one is stuck still
    assert result.opened == 1
    assert [e.state for e in _stuck(ignored_order)] == [ExceptionState.IGNORED]
    assert sorted(e.state for e in _stuck(resolved_order)) == [
        ExceptionState.OPEN,
        ExceptionState.RESOLVED,
    ]


def test_sweep_queries_do_not_grow_with_the_orders_already_stuck(
    django_assert_max_num_queries: object,
) -> None:
    # given: ten orders stuck and already reported
    orders = [lifecycle.web_order(n) for n in range(3001, 3011)]
    _sla(OrderStage.ACCEPTED, 30)
    _sla(OrderStage.RELEASED, 60)
    now = _later(orders[-1], hours=1)
    assert sweep_stuck(now=now).opened == 10
    # when / then: a sweep that finds nothing new only reads: the lock, the open exceptions,
    # the SLAs, one query per SLA, the unlock
    with django_assert_max_num_queries(6):  # type: ignore[operator]
        result = sweep_stuck(now=now)
    assert (result.opened, result.kept, result.closed) == (0, 10, 0)


def test_sweep_task_runs_as_the_sla_service_user_on_a_one_minute_beat() -> None:
    # given: an order that entered its stage two hours ago
    order = lifecycle.web_order()
    with service_scope():  # a fixture, built as the domain would have left it
        order.stage_changed_at = order.stage_changed_at - timedelta(hours=2)
        order.save(update_fields=["stage_changed_at"])
    _sla(OrderStage.ACCEPTED, 60)
    # when
    outcome = tasks.sweep_stuck.run()
    # then
    assert outcome == {"opened": 1, "kept": 0, "closed": 0, "skipped": False}
    [exception] = _stuck(order)
    assert exception.history.earliest("history_date").history_user.username == "system.sla"
    assert settings.CELERY_BEAT_SCHEDULE["orders.sweep_stuck"] == {
        "task": "orders.sweep_stuck",
        "schedule": 60.0,
    }


def test_format_age_reads_as_people_say_it() -> None:
    assert [format_age(timedelta(seconds=s)) for s in (20, 45 * 60, 125 * 60, 27 * 3600 + 60)] == [
        "under a minute",
        "45 min",
        "2 h 5 min",
        "1 d 3 h",
    ]


def test_sweep_task_is_known_to_a_fresh_worker_process() -> None:
    # given: a process that, like a worker, knows only the tasks Celery discovers
    code = (
        "import django; django.setup()\n"
        "from controltower.celery import app\n"
        "app.loader.import_default_modules()\n"
        "print('orders.sweep_stuck' in app.tasks)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "controltower.settings"}
    # when
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    # then: beat's message would find the task
    assert done.stdout.strip().splitlines()[-1:] == ["True"], done.stderr[-2000:]
