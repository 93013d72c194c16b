"""The demo's stores, played at the POS simulator's tills (:class:`Tills`): an opening count, live
sales with split tenders, the odd return and void, a store offline that uploads its day, day
closes (one off by a miscounted drawer); :func:`till_summary` says how it goes."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from controltower.demo.estate import sim_call

# --- the stores ----------------------------------------------------------------------------------
# Tender mixes the tills ring up in turn: the last tender without an amount takes the rest.
TENDER_MIXES: tuple[tuple[dict[str, Any], ...], ...] = (
    ({"type": "card"},),
    ({"type": "cash"},),
    ({"type": "gift_card", "amount": "15.00"}, {"type": "card"}),
    ({"type": "card"},),
    ({"type": "cash", "amount": "10.00"}, {"type": "card"}),
    (
        {"type": "gift_card", "amount": "10.00"},
        {"type": "cash", "amount": "5.00"},
        {"type": "card"},
    ),
)


class Tills:
    """The stores' tills, as the POS simulator plays them: an opening count per store
    (:meth:`count_stock`), then a sale every ``sale_every_s`` at a store in turn (split tenders
    with gift cards among them), a return with the receipt every ``return_every`` sales and a
    post-void every ``void_every``. ``OFFLINE_STORE`` goes offline for ``offline_for_s`` (its
    sales kept at the till) and uploads its day when it is back. From ``first_close_after_s``
    a store closes its day every ``close_every_s`` — the first with a drawer that counted
    ``EOD_MISMATCH`` too much cash, which opens an exception with the difference; a closed store
    rings nothing more (a mismatched one for the rest of the demo, the others reopen after
    ``reopen_after_s``). The shelves are counted again every ``recount_every_s`` (the POS's
    freshness SLA is 30 min: a store silent for longer would be stale)."""

    OFFLINE_STORE = "store-04"
    EOD_MISMATCH = "5.00"

    def __init__(
        self,
        pos_url: str,
        *,
        sale_every_s: float = 6.0,
        return_every: int = 7,
        void_every: int = 11,
        offline_after_s: float = 30.0,
        offline_for_s: float = 90.0,
        first_close_after_s: float = 60.0,
        close_every_s: float = 70.0,
        reopen_after_s: float = 180.0,
        recount_every_s: float = 600.0,
    ) -> None:
        from controltower.demo.retailer import STORES, catalog_specs
        from controltower.demo.seed import store_opening_stock

        self.pos_url = pos_url
        self.stores = [code for code, *_ in STORES]
        self.shelves = {code: dict(items) for code, items in store_opening_stock().items()}
        self.prices = {spec.code: spec.price for spec in catalog_specs()}
        self.sale_every_s, self.return_every, self.void_every = (
            sale_every_s,
            return_every,
            void_every,
        )
        self.close_every_s, self.reopen_after_s = close_every_s, reopen_after_s
        now = time.monotonic()
        self.next_sale = now + sale_every_s
        self.offline_at: float | None = now + offline_after_s
        self.online_at = now + offline_after_s + offline_for_s
        self.next_close = now + first_close_after_s
        self.recount_every_s = recount_every_s
        self.next_recount = now + recount_every_s
        self.closed: dict[str, float | None] = {}  # store → reopens at (None: stays closed)
        self.sales: list[dict[str, Any]] = []  # rung up, for returns and voids
        self.rung = 0
        self.offline_sales = 0
        self.mismatched = False
        self.is_offline = False

    def _sim(self, path: str, body: Any = None) -> Any:
        return sim_call(f"{self.pos_url}{path}", {} if body is None else body)

    def count_stock(self) -> int:
        """Each store's opening count (``stock.counted``); the figures it sent."""
        for store, shelf in self.shelves.items():
            items = [{"sku": sku, "on_hand": on_hand} for sku, on_hand in shelf.items()]
            self._sim("/_sim/counts", {"store": store, "items": items})
        return sum(len(shelf) for shelf in self.shelves.values())

    def _open_stores(self) -> list[str]:
        now = time.monotonic()
        for store, reopens in list(self.closed.items()):
            if reopens is not None and now >= reopens:
                del self.closed[store]
        return [store for store in self.stores if store not in self.closed]

    def _sale(self) -> str | None:
        stores = self._open_stores()
        if not stores:
            return None
        store = stores[self.rung % len(stores)]
        if self.is_offline and self.rung % 3 == 0:  # the offline store is busy: a day to upload
            store = self.OFFLINE_STORE
        shelf = self.shelves[store]
        stocked = [sku for sku, on_hand in shelf.items() if on_hand > 0]
        if not stocked:
            return None
        picks = [stocked[(self.rung * 7 + k * 13) % len(stocked)] for k in range(1 + self.rung % 3)]
        lines = []
        for sku in dict.fromkeys(picks):
            shelf[sku] -= 1
            lines.append({"sku": sku, "quantity": 1, "unit_price": str(self.prices[sku])})
        tenders = TENDER_MIXES[self.rung % len(TENDER_MIXES)]
        total = sum(Decimal(line["unit_price"]) for line in lines)
        if sum(Decimal(t.get("amount", "0")) for t in tenders) >= total:
            tenders = ({"type": "card"},)
        register = ("R1", "R2")[self.rung % 2]
        sale = self._sim(
            "/_sim/sales",
            {"store": store, "register": register, "lines": lines, "tenders": list(tenders)},
        )
        self.rung += 1
        self.sales.append(sale)
        if store == self.OFFLINE_STORE and self.is_offline:
            self.offline_sales += 1
        told = None
        if self.rung % self.return_every == 0 and len(self.sales) > 2:
            told = self._return(self.sales[-3])
        elif self.rung % self.void_every == 0:
            told = self._void(sale)
        return told

    def _return(self, sale: dict[str, Any]) -> str | None:
        if sale["store"] in self.closed or sale.get("status") == "voided":
            return None
        line = sale["lines"][0]
        # The money goes back by a method the sale took at least that much by (a till cannot
        # give back 129.00 in cash on a sale paid 10.00 in cash and the rest by card).
        back = next(
            (t["type"] for t in sale["tenders"] if Decimal(t["amount"]) >= Decimal(line["total"])),
            None,
        )
        if back is None:
            return None
        self.shelves[sale["store"]][line["sku"]] += 1
        self._sim(
            "/_sim/returns",
            {
                "store": sale["store"],
                "original": sale["id"],
                "lines": [{"original_line": line["id"], "quantity": 1}],
                "tenders": [{"type": back}],
            },
        )
        return (
            f"till: {sale['store']} took back one {line['sku']} of sale {sale['id']} "
            f"(a refund on that sale's order, {line['total']} to its {back})"
        )

    def _void(self, sale: dict[str, Any]) -> str:
        self._sim(f"/_sim/transactions/{sale['id']}/void")
        for line in sale["lines"]:
            self.shelves[sale["store"]][line["sku"]] += line["quantity"]
        sale["status"] = "voided"
        return f"till: {sale['store']} post-voided sale {sale['id']} (its order ends refunded)"

    def _offline(self) -> str:
        self.offline_at = None
        self.is_offline = True
        self._sim(f"/_sim/stores/{self.OFFLINE_STORE}/offline")
        return (
            f"till: {self.OFFLINE_STORE} lost its connection: it keeps selling and will upload "
            "its day when it is back"
        )

    def _online(self) -> str:
        self.online_at = float("inf")
        self.is_offline = False
        self._sim(f"/_sim/stores/{self.OFFLINE_STORE}/online")
        upload = self._sim(f"/_sim/stores/{self.OFFLINE_STORE}/upload")
        return (
            f"till: {self.OFFLINE_STORE} is back online and uploaded its day: "
            f"{len(upload['transactions'])} transactions ({self.offline_sales} rung while "
            "offline) in one day.uploaded — each one order, nothing counted twice"
        )

    def _close(self) -> str | None:
        stores = [s for s in self._open_stores() if s != self.OFFLINE_STORE or not self.is_offline]
        if not stores:
            return None
        store = stores[0] if self.mismatched else self.stores[1]  # store-02 miscounts first
        mismatch = not self.mismatched
        if mismatch:
            self._sim("/_sim/faults", {"eod_mismatch": self.EOD_MISMATCH})
            self.mismatched = True
        report = self._sim(f"/_sim/stores/{store}/close")
        self.closed[store] = None if mismatch else time.monotonic() + self.reopen_after_s
        takings = ", ".join(f"{method} {amount}" for method, amount in report["tenders"].items())
        if mismatch:
            return (
                f"till: {store} closed its day, its drawer {self.EOD_MISMATCH} over "
                f"({takings}): watch the day-close exception name the difference"
            )
        return (
            f"till: {store} closed its day ({report['transaction_count']} transactions: {takings})"
        )

    def tick(self) -> str | None:
        now = time.monotonic()
        if self.offline_at is not None and now >= self.offline_at:
            return self._offline()
        if now >= self.online_at:
            return self._online()
        if now >= self.next_recount:
            self.next_recount += self.recount_every_s
            return f"till: the stores counted their shelves again ({self.count_stock()} figures)"
        if now >= self.next_close:
            self.next_close += self.close_every_s
            return self._close()
        if now >= self.next_sale:
            self.next_sale += self.sale_every_s
            return self._sale()
        return None


def till_summary() -> str:
    """The stores in one line: till orders, payments per tender, open day-close exceptions."""
    from django.db.models import Count, Sum

    from controltower.demo.retailer import POS_CHANNEL
    from controltower.exceptions.models import OpsException
    from controltower.orders.models import Order
    from controltower.payments.models import Payment

    orders = Order.objects.filter(channel__code=POS_CHANNEL)
    tenders = (
        Payment.objects.filter(order__channel__code=POS_CHANNEL)
        .values_list("method")
        .annotate(n=Count("id"), total=Sum("amount"))
        .order_by("method")
    )
    paid = ", ".join(f"{method} {n} ({total:.2f})" for method, n, total in tenders)
    closes = OpsException.objects.open().filter(dedupe_key__startswith="pos:day-close").count()
    return (
        f"stores: {orders.count()} till orders · payments {paid or 'none'} · "
        f"open day-close exceptions: {closes}"
    )
