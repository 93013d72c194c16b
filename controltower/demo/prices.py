"""The demo's price policy at work: the ERP's item prices loaded and pulled (:func:`load_prices`),
and now and then a sale price under the policy's floor in the store (:class:`PriceBreach`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from controltower.demo.estate import send_task, sim_call
from controltower.demo.retailer import (
    PRICE_BREACH_SHARE,
    PRICE_BREACH_SKUS,
    PROMOTION_MAX_DISCOUNT,
)


# --- the price policy ----------------------------------------------------------------------------
def load_prices(erp_url: str) -> int:
    """The ERP's item master (every SKU at its catalog price, standard tax) into its simulator,
    and ask for the price feed now (beat pulls it every ``CT_ERP_PRICES_S`` after)."""
    from controltower.demo.seed import erp_items

    items = erp_items()
    sim_call(f"{erp_url}/_sim/items", {"items": items})
    send_task("erp.pull_prices")
    return len(items)


class PriceBreach:
    """Now and then marketing sets a sale price on one product in the store at
    ``PRICE_BREACH_SHARE`` of its price — further off the ERP price than the promotion policy's
    ``PROMOTION_MAX_DISCOUNT`` % allows. The store fires ``product.updated``; the demo asks for
    the product sync (``woocommerce.pull_products``) too, and ``report_after_s`` later says
    whether the *price below floor* exception is open, with its margin at risk. Ops push the ERP
    price back from the exception page; while a breach is open the demo asks for the sync every
    ``resync_every_s`` (beat's is ``CT_WOO_PRODUCTS_S``, 15 min), so the exception is seen to
    close soon after the push."""

    def __init__(
        self,
        woo: Callable[..., Any],
        *,
        every_s: float = 120.0,
        first_after_s: float = 50.0,
        report_after_s: float = 20.0,
        resync_every_s: float = 30.0,
    ) -> None:
        from controltower.demo.retailer import catalog_specs

        self.woo = woo
        self.specs = {spec.code: spec for spec in catalog_specs()}
        self.every_s = every_s
        self.report_after_s = report_after_s
        self.next_at = time.monotonic() + first_after_s
        self.turn = 0
        self.pending: tuple[str, float] | None = None  # sku, report at
        self.resync_every_s = resync_every_s
        self.next_resync = float("inf")
        self.open: set[str] = set()  # SKUs whose breach was reported open

    def start(self) -> str:
        sku = PRICE_BREACH_SKUS[self.turn % len(PRICE_BREACH_SKUS)]
        self.turn += 1
        spec = self.specs[sku]
        sale = (spec.price * PRICE_BREACH_SHARE).quantize(Decimal("0.01"))
        self.woo(
            "PUT",
            f"/wp-json/wc/v3/products/{spec.woo_product_id}/variations/{spec.woo_variation_id}",
            {"sale_price": str(sale)},
        )
        send_task("woocommerce.pull_products")
        self.pending = (sku, time.monotonic() + self.report_after_s)
        floor = spec.price * (100 - PROMOTION_MAX_DISCOUNT) / 100
        return (
            f"price: marketing put {sku} on sale at {sale} in the store (ERP price {spec.price}, "
            f"the policy's floor {floor:.2f}): the next product sync opens price below floor"
        )

    def outcome(self, sku: str) -> str:
        from controltower.exceptions.choices import ExceptionType
        from controltower.exceptions.models import OpsException

        breaches = OpsException.objects.open().filter(type=ExceptionType.PRICE_BELOW_FLOOR)
        found = breaches.filter(title__icontains=sku).first() or breaches.order_by("-id").first()
        if found is None:
            return f"price: no price-below-floor exception for {sku} yet (the sync may be late)"
        self.open.add(sku)
        self.next_resync = time.monotonic() + self.resync_every_s
        return (
            f"price: {found.title} — {found.money_at_risk_amount or 0:.2f} at risk; ops may "
            "push the ERP price back from the exception"
        )

    def resync(self) -> str | None:
        """Ask for the product sync again; name the breaches it found back within policy."""
        from controltower.exceptions.choices import ExceptionType
        from controltower.exceptions.models import OpsException

        breaches = OpsException.objects.open().filter(type=ExceptionType.PRICE_BELOW_FLOOR)
        titles = list(breaches.values_list("title", flat=True))
        fixed = {sku for sku in self.open if not any(sku in title for title in titles)}
        self.open -= fixed
        self.next_resync = time.monotonic() + self.resync_every_s if titles else float("inf")
        if titles:
            send_task("woocommerce.pull_products")
        if fixed:
            return f"price: {', '.join(sorted(fixed))} back within policy: the exception closed"
        return None

    def tick(self) -> str | None:
        now = time.monotonic()
        if self.pending is not None and now >= self.pending[1]:
            from django.db import close_old_connections

            close_old_connections()
            sku, _ = self.pending
            self.pending = None
            return self.outcome(sku)
        if now >= self.next_resync:
            from django.db import close_old_connections

            close_old_connections()
            return self.resync()
        if now < self.next_at:
            return None
        self.next_at += self.every_s
        return self.start()
