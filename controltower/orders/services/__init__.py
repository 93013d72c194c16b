"""Order services: the only write path for orders (every function here is a
``domain_service``). One module per responsibility:

- :mod:`.states` — the lifecycle: status mappings, the state machine applied, a person's cancel;
- :mod:`.channel` — orders as their channel reports them: created, updated, trashed, restored;
- :mod:`.erp` — orders and the ERP: requested, registered, cancelled, references.

Callers import from here.
"""

from controltower.orders.services.channel import (
    ChannelOrderData,
    ChannelOrderLineData,
    OrderRemoval,
    OrderUpsert,
    create_channel_orders,
    record_channel_update_requested,
    restore_channel_order,
    trash_channel_order,
    upsert_channel_order,
)
from controltower.orders.services.erp import (
    ErpReferenceError,
    record_erp_cancel_requested,
    record_erp_cancelled,
    record_erp_create_withdrawn,
    record_erp_request,
    register_order_in_erp,
    register_orders_in_erp,
    repoint_erp_reference,
)
from controltower.orders.services.states import (
    UnmappedChannelStatus,
    cancel_order,
    map_channel_status,
    transition_order,
)

__all__ = [
    "ChannelOrderData",
    "ChannelOrderLineData",
    "ErpReferenceError",
    "OrderRemoval",
    "OrderUpsert",
    "UnmappedChannelStatus",
    "cancel_order",
    "create_channel_orders",
    "map_channel_status",
    "record_channel_update_requested",
    "record_erp_cancel_requested",
    "record_erp_cancelled",
    "record_erp_create_withdrawn",
    "record_erp_request",
    "register_order_in_erp",
    "register_orders_in_erp",
    "repoint_erp_reference",
    "restore_channel_order",
    "transition_order",
    "trash_channel_order",
    "upsert_channel_order",
]
