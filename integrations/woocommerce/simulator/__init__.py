"""WooCommerce simulator: REST API v3 and webhook deliveries over real HTTP."""

from __future__ import annotations

from integrations.woocommerce.simulator.server import WooCommerceSimulator

__all__ = ["WooCommerceSimulator"]
