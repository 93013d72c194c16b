from __future__ import annotations

from django.db import models

from controltower.exceptions.choices import ExceptionType, Severity


class PushState(models.TextChoices):
    QUEUED = "queued", "Queued"
    ACCEPTED = "accepted", "Accepted by the store"
    REFUSED = "refused", "Refused by the store"


class Breach(models.TextChoices):
    """What a storefront price can do wrong; each is its own exception type."""

    BELOW_FLOOR = "below_floor", "Price below the floor"
    OUT_OF_WINDOW = "out_of_window", "Promotion outside its window"
    EXCLUDED = "excluded", "Promotion on an excluded SKU"
    TAX_CLASS = "tax_class", "Tax class differs from the ERP"


BREACH_TYPES: dict[str, ExceptionType] = {
    Breach.BELOW_FLOOR: ExceptionType.PRICE_BELOW_FLOOR,
    Breach.OUT_OF_WINDOW: ExceptionType.PROMOTION_OUT_OF_WINDOW,
    Breach.EXCLUDED: ExceptionType.PROMOTION_EXCLUDED,
    Breach.TAX_CLASS: ExceptionType.TAX_CLASS_MISMATCH,
}
BREACH_SEVERITY: dict[str, Severity] = {
    Breach.BELOW_FLOOR: Severity.HIGH,
    Breach.OUT_OF_WINDOW: Severity.MEDIUM,
    Breach.EXCLUDED: Severity.MEDIUM,
    Breach.TAX_CLASS: Severity.MEDIUM,
}
PRICING_TYPES = frozenset(BREACH_TYPES.values())
