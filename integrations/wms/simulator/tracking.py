"""Carrier-shaped tracking numbers for the WMS simulator.

Only the *shape* is realistic (prefix, length, alphabet, UPS' mod-10 check digit); the numbers
do not exist at any carrier.
"""

from __future__ import annotations

import random
import string

UPS_SHIPPER = "A1B2C3"
UPS_SERVICE = "03"  # UPS Ground
POSTNL_CUSTOMER_CODE = "CTWS"


def ups_check_digit(body: str) -> int:
    """Mod-10 check digit over the 15 characters after ``1Z`` (letters count as (ord-3) % 10,
    characters at odd 0-based positions count double)."""
    total = 0
    for index, char in enumerate(body):
        value = int(char) if char.isdigit() else (ord(char) - 3) % 10
        total += value * 2 if index % 2 else value
    return (10 - total % 10) % 10


def ups_is_valid(tracking_number: str) -> bool:
    if len(tracking_number) != 18 or not tracking_number.startswith("1Z"):
        return False
    body, check = tracking_number[2:17], tracking_number[17]
    allowed = set(string.ascii_uppercase + string.digits)
    if not set(body) <= allowed or not check.isdigit():
        return False
    return ups_check_digit(body) == int(check)


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(count))


def tracking_number(carrier: str, rng: random.Random) -> str:
    """A new tracking number shaped like ``carrier``'s.

    * DHL (eCommerce / Parcel Benelux): ``JVGL`` + 16 digits (20 characters).
    * UPS: ``1Z`` + 6-character shipper number + 2-digit service + 7 digits + check digit
      (18 characters).
    * PostNL: ``3S`` + 4-letter customer code + 9 digits (15 characters).
    * anything else: up to 4 letters of the carrier name + 12 digits.
    """
    name = carrier.strip().upper()
    if name == "DHL":
        return "JVGL" + _digits(rng, 16)
    if name == "UPS":
        body = UPS_SHIPPER + UPS_SERVICE + _digits(rng, 7)
        return f"1Z{body}{ups_check_digit(body)}"
    if name == "POSTNL":
        return "3S" + POSTNL_CUSTOMER_CODE + _digits(rng, 9)
    prefix = "".join(c for c in name if c.isalpha())[:4] or "TRK"
    return prefix + _digits(rng, 12)
