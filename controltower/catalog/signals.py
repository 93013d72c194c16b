"""Catalog's domain signals: other domain apps listen (pricing checks its policy), never the
other way round."""

from __future__ import annotations

from django.dispatch import Signal

# Inside the transaction that wrote them: the storefront prices (``ChannelPrice``) or the ERP's
# item prices of these SKUs (``sku_ids``) were read again. A receiver that raises rolls the
# change back with it.
prices_read = Signal()
