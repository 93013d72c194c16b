"""The four roles, as Django groups, and what each may do.

Groups are created by a migration and kept in step by ``sync_roles`` (run after every migrate).
A permission is ``app_label.codename``; ``*`` grants every permission (admins).
"""

from __future__ import annotations

from typing import Any

OPS = "ops"
FINANCE = "finance"
EXECUTIVE = "executive"
ADMIN = "admin"
ROLES = (OPS, FINANCE, EXECUTIVE, ADMIN)

_VIEW_CANONICAL = [
    "orders.view_order",
    "orders.view_orderline",
    "orders.view_orderevent",
    "payments.view_payment",
    "fulfilment.view_shipment",
    "returns.view_refund",
    "returns.view_returnauthorization",
    "exceptions.view_opsexception",
    "integrations.view_inboundevent",
    "integrations.view_outboundmessage",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    OPS: [
        *_VIEW_CANONICAL,
        "orders.change_order",  # the order page's cancel (the admin's cancel action needs it too)
        "exceptions.change_opsexception",
        "integrations.replay_message",
        "integrations.view_connection",
        "integrations.view_messageaction",
        "integrations.view_syncrun",
        "catalog.view_sku",
        "inventory.view_stockposition",
        "inventory.view_reservation",
        "pricing.view_pricepush",
        "pricing.add_pricepush",  # push the ERP price to the store (a price-policy exception)
    ],
    FINANCE: [
        *_VIEW_CANONICAL,
        "finance.view_invoice",
        "finance.view_creditmemo",
        "finance.view_journalentry",
        "finance.view_journalline",
        # acting on posting exceptions (acknowledge, resolve, retry the posting); ops-only
        # exceptions stay read-only (controltower.exceptions.services.may_act_on)
        "finance.change_journalentry",
        "payments.view_settlement",
    ],
    EXECUTIVE: ["dashboards.view_kpis"],
    ADMIN: ["*"],
}

ROLE_HOME = {
    OPS: "orders:order_list",
    FINANCE: "finance:journal_list",
    EXECUTIVE: "dashboards:kpis",
    ADMIN: "orders:order_list",
}
# (ops land on orders; the work queue is one click away under "Exceptions"; finance on the
# journal, its queue one click away; executives on the KPIs)


def roles_of(user: Any) -> list[str]:
    if not getattr(user, "is_authenticated", False):
        return []
    cached = getattr(user, "_ct_roles", None)
    if cached is None:
        cached = sorted(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._ct_roles = cached
    return cached


def has_role(user: Any, role: str) -> bool:
    return getattr(user, "is_superuser", False) or role in roles_of(user)
