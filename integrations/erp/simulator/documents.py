"""Money and document arithmetic of the ERP simulator (see docs/contracts/erp.md).

Pure functions, no I/O: shape validation of shipments and credit-memo requests, the order line's
amounts at 2 decimals, pro-rata invoice lines (the last invoice of a line takes the remainder)
and the allocation of a credit over invoice lines.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
DEFAULT_TAX_CODE = "STD"
AMOUNT_KEYS = ("discount", "net", "tax")


def is_decimal_string(value: Any) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        number = Decimal(value)
    except InvalidOperation:
        return False
    return number.is_finite()


def is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def payload_fingerprint(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def q2(value: Decimal) -> Decimal:
    """Round half-up to cents."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(value: Decimal) -> str:
    """A 2-decimal string (``"12.30"``); never ``"-0.00"``."""
    return str(q2(value) + 0)


def amount(value: Any) -> Decimal:
    """A stored decimal string (or ``None``, meaning zero) as a Decimal."""
    return Decimal(value) if value is not None else Decimal(0)


def check_amount(errors: dict[str, str], name: str, value: Any) -> None:
    """An optional, non-negative decimal string."""
    if not is_decimal_string(value):
        errors[name] = "must be a decimal string"
    elif Decimal(value) < 0:
        errors[name] = "must not be negative"


def _check_string(
    errors: dict[str, str], payload: dict[str, Any], name: str, *, required: bool, key: str = ""
) -> None:
    key = key or name
    if name not in payload or payload[name] is None:
        if required:
            errors[key] = "this field is required"
        return
    value = payload[name]
    if not isinstance(value, str) or not value.strip():
        errors[key] = "must be a non-empty string"


def _check_iso(errors: dict[str, str], payload: dict[str, Any], name: str) -> None:
    value = payload.get(name)
    if name not in payload:
        errors[name] = "this field is required"
        return
    try:
        if not isinstance(value, str):
            raise ValueError(name)
        datetime.fromisoformat(value)
    except ValueError:
        errors[name] = "must be an ISO 8601 string"


def validate_order_extras(payload: dict[str, Any], errors: dict[str, str]) -> None:
    """The optional sales-order fields beyond the original contract: per line ``line_number``,
    ``name``, ``tax_code``, ``tax``, ``discount``, ``total``; per order ``shipping``,
    ``shipping_tax``, ``shipping_tax_code``, ``tax``."""
    for name in ("shipping", "shipping_tax", "tax"):
        if payload.get(name) is not None:
            check_amount(errors, name, payload[name])
    _check_string(errors, payload, "shipping_tax_code", required=False)
    lines = payload.get("lines")
    if not isinstance(lines, list):
        return
    seen: dict[int, int] = {}
    for index, line in enumerate(lines):
        if not isinstance(line, dict):
            continue
        prefix = f"lines[{index}]"
        number = line.get("line_number")
        if number is not None and not is_positive_int(number):
            errors[f"{prefix}.line_number"] = "must be a positive integer"
        else:
            effective = number if number is not None else index + 1
            if effective in seen:
                errors[f"{prefix}.line_number"] = (
                    f"line {effective} is already lines[{seen[effective]}]"
                )
            seen.setdefault(effective, index)
        name = line.get("name")
        if name is not None and not isinstance(name, str):
            errors[f"{prefix}.name"] = "must be a string"
        _check_string(errors, line, "tax_code", required=False, key=f"{prefix}.tax_code")
        for field in ("tax", "discount", "total"):
            if line.get(field) is not None:
                check_amount(errors, f"{prefix}.{field}", line[field])


def validate_shipment(payload: Any) -> dict[str, str]:
    """Shape of a shipment confirmation; ``{field: problem}``, empty when valid."""
    if not isinstance(payload, dict):
        return {"_": "body must be a JSON object"}
    errors: dict[str, str] = {}
    _check_string(errors, payload, "shipment_ref", required=True)
    _check_iso(errors, payload, "shipped_at")
    for name in ("carrier", "tracking_number"):
        value = payload.get(name)
        if value is not None and not isinstance(value, str):
            errors[name] = "must be a string"
    lines = payload.get("lines")
    if "lines" not in payload:
        errors["lines"] = "this field is required"
    elif not isinstance(lines, list) or not lines:
        errors["lines"] = "must be a non-empty list"
    else:
        for index, line in enumerate(lines):
            prefix = f"lines[{index}]"
            if not isinstance(line, dict):
                errors[prefix] = "must be an object"
                continue
            for name in ("line_number", "quantity"):
                if name not in line:
                    errors[f"{prefix}.{name}"] = "this field is required"
                elif not is_positive_int(line[name]):
                    errors[f"{prefix}.{name}"] = "must be a positive integer"
            _check_string(errors, line, "sku", required=True, key=f"{prefix}.sku")
    return errors


def check_shipment_against_order(
    order: dict[str, Any], lines: list[dict[str, Any]]
) -> dict[str, str]:
    """Each shipped line must be on the order, with its SKU, within what is still to deliver."""
    by_number = {line["line_number"]: line for line in order["lines"]}
    taken: dict[int, int] = {}
    errors: dict[str, str] = {}
    for index, line in enumerate(lines):
        prefix, number = f"lines[{index}]", line["line_number"]
        target = by_number.get(number)
        if target is None:
            errors[f"{prefix}.line_number"] = f"no line {number} on sales order {order['id']}"
            continue
        if line["sku"] != target["sku"]:
            errors[f"{prefix}.sku"] = f"line {number} is {target['sku']}"
            continue
        remaining = target["quantity"] - target["delivered"] - taken.get(number, 0)
        if line["quantity"] > remaining:
            errors[f"{prefix}.quantity"] = (
                f"exceeds the {remaining} still to deliver on line {number}"
            )
            continue
        taken[number] = taken.get(number, 0) + line["quantity"]
    return errors


def validate_credit_request(payload: Any) -> dict[str, str]:
    """Shape of ``POST /_sim/sales-orders/<id>/credit-memos``."""
    if not isinstance(payload, dict):
        return {"_": "body must be a JSON object"}
    errors: dict[str, str] = {}
    _check_string(errors, payload, "reason", required=True)
    _check_string(errors, payload, "invoice", required=False)
    if payload.get("lines") is not None and payload.get("amount") is not None:
        errors["amount"] = "give either lines or amount, not both"
    lines = payload.get("lines")
    if lines is not None:
        if not isinstance(lines, list) or not lines:
            errors["lines"] = "must be a non-empty list"
        else:
            for index, line in enumerate(lines):
                prefix = f"lines[{index}]"
                if not isinstance(line, dict):
                    errors[prefix] = "must be an object"
                    continue
                for name in ("line_number", "quantity"):
                    if name not in line:
                        errors[f"{prefix}.{name}"] = "this field is required"
                    elif not is_positive_int(line[name]):
                        errors[f"{prefix}.{name}"] = "must be a positive integer"
    value = payload.get("amount")
    if value is not None and "amount" not in errors:
        if not is_decimal_string(value):
            errors["amount"] = "must be a decimal string"
        elif q2(Decimal(value)) <= 0:
            errors["amount"] = "must be greater than 0.00"
    return errors


# -- invoices -------------------------------------------------------------------------------


def line_amounts(line: dict[str, Any]) -> dict[str, Decimal]:
    """A sales-order line's whole amounts at 2 decimals: net = quantity × unit_price − discount
    (after discount, before tax)."""
    gross = q2(Decimal(line["unit_price"]) * line["quantity"])
    discount = q2(amount(line.get("discount")))
    return {"discount": discount, "net": gross - discount, "tax": q2(amount(line.get("tax")))}


def prorate(total: Decimal, done: Decimal, part: int, done_part: int, whole: int) -> Decimal:
    """``part`` of ``whole`` units of ``total``, half-up to cents, ``done`` already taken for
    ``done_part`` units; the part that completes the whole takes the remainder. A share never
    exceeds what remains nor goes below zero (for a non-negative total)."""
    remaining = total - done
    if done_part + part >= whole:
        return remaining
    share = q2(total * part / whole)
    if total >= 0:
        share = max(ZERO, min(share, remaining))
    return share


def document_line(
    order_line: dict[str, Any], quantity: int, amounts: dict[str, Decimal]
) -> dict[str, Any]:
    return {
        "line_number": order_line["line_number"],
        "sku": order_line["sku"],
        "quantity": quantity,
        "unit_price": order_line["unit_price"],
        "discount": money(amounts["discount"]),
        "net": money(amounts["net"]),
        "tax": money(amounts["tax"]),
        "tax_code": order_line["tax_code"],
        "total": money(amounts["net"] + amounts["tax"]),
    }


def invoice_lines(
    order: dict[str, Any], shipped: list[dict[str, Any]], earlier: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The lines of the invoice for one delivery (``shipped``: its lines), given the order's
    ``earlier`` invoices: each line pro rata of the order line by quantity."""
    merged: dict[int, int] = {}
    for line in shipped:
        merged[line["line_number"]] = merged.get(line["line_number"], 0) + line["quantity"]
    by_number = {line["line_number"]: line for line in order["lines"]}
    result = []
    for number, quantity in merged.items():
        order_line = by_number[number]
        whole = line_amounts(order_line)
        done_quantity = 0
        done = dict.fromkeys(AMOUNT_KEYS, Decimal(0))
        for invoice in earlier:
            for line in invoice["lines"]:
                if line["line_number"] == number:
                    done_quantity += line["quantity"]
                    for key in AMOUNT_KEYS:
                        done[key] += Decimal(line[key])
        amounts = {
            key: prorate(whole[key], done[key], quantity, done_quantity, order_line["quantity"])
            for key in AMOUNT_KEYS
        }
        result.append(document_line(order_line, quantity, amounts))
    return result


def shipping_amounts(order: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """The order's shipping net and tax. Without ``shipping_tax``, the tax is what the order's
    ``tax`` holds beyond its lines' taxes (Control Tower sends the order's whole tax)."""
    net = q2(amount(order.get("shipping")))
    if order.get("shipping_tax") is not None:
        return net, q2(Decimal(order["shipping_tax"]))
    if net > 0 and order.get("tax") is not None:
        lines_tax = sum((q2(amount(line.get("tax"))) for line in order["lines"]), Decimal(0))
        derived = q2(Decimal(order["tax"])) - lines_tax
        if derived > 0:
            return net, derived
    return net, ZERO


def document_totals(
    lines: list[dict[str, Any]], shipping_net: Decimal = ZERO, shipping_tax: Decimal = ZERO
) -> dict[str, str]:
    net = sum((Decimal(line["net"]) for line in lines), Decimal(0)) + shipping_net
    tax = sum((Decimal(line["tax"]) for line in lines), Decimal(0)) + shipping_tax
    return {"net_total": money(net), "tax_total": money(tax), "total": money(net + tax)}


# -- credit memos ---------------------------------------------------------------------------


def allocate(total: Decimal, capacities: list[Decimal]) -> list[Decimal]:
    """Split ``total`` (cents, <= Σ capacities) pro rata of ``capacities``, each part in cents
    and within its capacity, the parts summing exactly to ``total``."""
    whole = sum(capacities, Decimal(0))
    parts: list[Decimal] = []
    cumulative = given = Decimal(0)
    for capacity in capacities:
        cumulative += capacity
        target = q2(total * cumulative / whole) if whole else ZERO
        parts.append(target - given)
        given = target
    carry = Decimal(0)
    for index, capacity in enumerate(capacities):
        wanted = parts[index] + carry
        parts[index] = min(wanted, capacity)
        carry = wanted - parts[index]
    for index, capacity in enumerate(capacities):
        if carry <= 0:
            break
        extra = min(carry, capacity - parts[index])
        parts[index] += extra
        carry -= extra
    return parts


def split_gross(gross: Decimal, net_left: Decimal, tax_left: Decimal) -> dict[str, Decimal]:
    """A gross credit on one invoice line as net + tax, at the ratio of what is left of it."""
    left = net_left + tax_left
    tax = q2(gross * tax_left / left) if left else ZERO
    return {"discount": ZERO, "net": gross - tax, "tax": tax}
