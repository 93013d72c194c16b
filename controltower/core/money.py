"""Money: a Decimal amount with an explicit currency. Never a float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import models

AMOUNT_PLACES = Decimal("0.0001")


class MoneyError(ValueError):
    pass


def to_decimal(value: object) -> Decimal:
    """Parse an amount as sent by external systems (strings like ``"12.30"``), refusing floats."""
    if isinstance(value, float):
        raise MoneyError("amounts must not be floats")
    if isinstance(value, Decimal):
        amount = value
    else:
        try:
            amount = Decimal(str(value).strip())
        except (InvalidOperation, ValueError) as exc:
            raise MoneyError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise MoneyError(f"not a finite amount: {value!r}")
    return amount.quantize(AMOUNT_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, float):
            raise MoneyError("amounts must not be floats")
        if len(self.currency) != 3 or not self.currency.isalpha():
            raise MoneyError(f"not a currency code: {self.currency!r}")
        object.__setattr__(self, "amount", to_decimal(self.amount))
        object.__setattr__(self, "currency", self.currency.upper())

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        return Money(self.amount * Decimal(factor), self.currency)

    def __str__(self) -> str:
        return f"{self.amount.quantize(Decimal('0.01'))} {self.currency}"

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)


def AmountField(**kwargs: object) -> models.DecimalField:
    """``<name>_amount`` column: 20 digits, 4 places."""
    kwargs.setdefault("default", Decimal(0))
    return models.DecimalField(max_digits=20, decimal_places=4, **kwargs)


def CurrencyField(**kwargs: object) -> models.CharField:
    kwargs.setdefault("default", "EUR")
    return models.CharField(max_length=3, **kwargs)
