"""Errors every layer understands."""

from __future__ import annotations


class NotYet(Exception):
    """A step arrived before what it follows (a payment for an order not yet received, an
    invoice before its shipment): the caller should try again later. The inbox holds the event
    and retries it; past its patience it is refused and recorded (docs/lifecycle.md)."""
