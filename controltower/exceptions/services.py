"""The one write path for the work queue: open, assign, resolve, ignore, auto-close."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from controltower.core.models import stamp
from controltower.core.writepath import domain_service
from controltower.exceptions import live
from controltower.exceptions.choices import ExceptionState, ExceptionType, Severity
from controltower.exceptions.models import OpsException

logger = logging.getLogger(__name__)


class ExceptionActionError(ValueError):
    pass


# Who may act on what: ops (``exceptions.change_opsexception``) on every exception; finance
# (this permission) only on finance's own part of the queue — posting failures, which a person
# resolves by fixing a GL mapping or a period and retrying the posting.
FINANCE_ACT_PERMISSION = "finance.change_journalentry"


def is_finance_exception(exception: OpsException) -> bool:
    """The row-level twin of ``OpsException.objects.for_finance()``."""
    return exception.type == ExceptionType.POSTING_FAILURE or bool(
        (exception.context or {}).get("finance")
    )


def may_act_on(user: Any, exception: OpsException) -> bool:
    if user.has_perm("exceptions.change_opsexception"):
        return True
    return user.has_perm(FINANCE_ACT_PERMISSION) and is_finance_exception(exception)


def refusal_for(user: Any, exception: OpsException) -> str:
    """What a person who may not act on this exception is told (with the 403)."""
    if user.has_perm(FINANCE_ACT_PERMISSION):
        return (
            f"Finance may act only on posting exceptions; “{exception.get_type_display()}” "
            "is for ops to handle. You can still read it."
        )
    return "You may view exceptions but not act on them."


@domain_service
def open_exception(
    *,
    type: ExceptionType,
    dedupe_key: str,
    title: str,
    detail: str = "",
    severity: Severity = Severity.MEDIUM,
    correlation_id: Any = None,
    money_at_risk: Decimal = Decimal(0),
    currency: str = "EUR",
    subject_type: str = "",
    subject_id: str = "",
    context: dict[str, Any] | None = None,
) -> OpsException:
    """Open an exception for a condition, or refresh the active one with the same key."""
    with transaction.atomic(savepoint=False):
        existing = (
            OpsException.objects.open().select_for_update().filter(dedupe_key=dedupe_key).first()
        )
        if existing is not None:
            existing.detail = detail
            existing.money_at_risk_amount = money_at_risk
            existing.context = context or {}
            stamp(existing, "condition seen again")
            existing.save(update_fields=["detail", "money_at_risk_amount", "context", "updated_at"])
            live.exception_changed(existing.pk, created=False)
            return existing
        fields: dict[str, Any] = {
            "type": type,
            "dedupe_key": dedupe_key,
            "title": title[:255],
            "detail": detail,
            "severity": severity,
            "money_at_risk_amount": money_at_risk,
            "currency": currency,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "context": context or {},
        }
        if correlation_id:
            fields["correlation_id"] = correlation_id
        exc = OpsException(**fields)
        stamp(exc, f"opened: {title}"[:100])
        try:
            with transaction.atomic():
                exc.save()
        except IntegrityError:
            # Another worker opened it between our check and insert: use theirs.
            return OpsException.objects.open().get(dedupe_key=dedupe_key)
        logger.info("exception opened", extra={"correlation_id": str(exc.correlation_id)})
        live.exception_changed(exc.pk, created=True)
        return exc


@domain_service
@transaction.atomic(savepoint=False)
def close_exceptions_for(dedupe_key: str, *, reason: str) -> int:
    """The underlying condition cleared: resolve its active exception (if any)."""
    return close_exceptions({dedupe_key: reason})


@domain_service
@transaction.atomic(savepoint=False)
def close_exceptions(reasons: dict[str, str]) -> int:
    """Several conditions cleared at once (dedupe key → reason): one read for all of them,
    where a step usually finds none open."""
    closed = 0
    open_ones = OpsException.objects.open().select_for_update().filter(dedupe_key__in=reasons)
    for exc in open_ones:
        reason = reasons[exc.dedupe_key]
        exc.state = ExceptionState.RESOLVED
        exc.resolution_reason = reason
        exc.closed_at = timezone.now()
        stamp(exc, reason[:100])
        exc.save(update_fields=["state", "resolution_reason", "closed_at", "updated_at"])
        live.exception_changed(exc.pk, created=False)
        closed += 1
    return closed


def _locked(exception: OpsException) -> OpsException:
    return OpsException.objects.order_by("pk").select_for_update(of=("self",)).get(pk=exception.pk)


def _close(exception: OpsException, state: ExceptionState, *, reason: str) -> OpsException:
    if not reason or not reason.strip():
        raise ExceptionActionError("a reason is required")
    with transaction.atomic():
        exception = _locked(exception)
        if not exception.is_active:
            raise ExceptionActionError(f"exception {exception.pk} is already {exception.state}")
        exception.state = state
        exception.resolution_reason = reason.strip()
        exception.closed_at = timezone.now()
        stamp(exception, f"{state}: {reason.strip()}"[:100])
        exception.save(update_fields=["state", "resolution_reason", "closed_at", "updated_at"])
        live.exception_changed(exception.pk, created=False)
    return exception


@domain_service
def resolve_exception(exception: OpsException, *, reason: str) -> OpsException:
    """A person fixed it (or confirms it is fixed); the reason is kept in history."""
    return _close(exception, ExceptionState.RESOLVED, reason=reason)


@domain_service
def ignore_exception(exception: OpsException, *, reason: str) -> OpsException:
    """A person decides it needs no action; the reason is kept in history."""
    return _close(exception, ExceptionState.IGNORED, reason=reason)


@domain_service
def assign_exception(exception: OpsException, *, owner: Any) -> OpsException:
    with transaction.atomic():
        exception = _locked(exception)
        if not exception.is_active:
            raise ExceptionActionError(f"exception {exception.pk} is already {exception.state}")
        if owner is not None and not owner.is_active:
            raise ExceptionActionError(f"{owner.username} is not an active user")
        exception.owner = owner
        exception.state = ExceptionState.ASSIGNED if owner is not None else ExceptionState.OPEN
        stamp(exception, f"assigned to {owner.username}" if owner else "unassigned")
        exception.save(update_fields=["owner", "state", "updated_at"])
        live.exception_changed(exception.pk, created=False)
    return exception


@domain_service
@transaction.atomic(savepoint=False)
def file_exceptions_under(
    *, subject_type: str, subject_ids: list[str], correlation_id: Any, reason: str
) -> int:
    """File the exceptions of these subjects under a business transaction (for its trace), e.g.
    the dead letters of a failed event once a replay of it names the order it belongs to."""
    filed = 0
    for exc in (
        OpsException.objects.filter(subject_type=subject_type, subject_id__in=subject_ids)
        .exclude(correlation_id=correlation_id)
        .order_by("pk")
        .select_for_update()
    ):
        exc.correlation_id = correlation_id
        stamp(exc, reason[:100])
        exc.save(update_fields=["correlation_id", "updated_at"])
        live.exception_changed(exc.pk, created=False)
        filed += 1
    return filed
