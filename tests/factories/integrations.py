from __future__ import annotations

from typing import Any

from controltower.catalog.choices import SystemKind
from controltower.catalog.models import Channel
from controltower.core.writepath import service_scope
from controltower.orders.models import ChannelStatusMapping
from integrations.runtime.models import Connection
from integrations.woocommerce.translate import STATUS_MAPPING
from tests.factories.catalog import ChannelFactory

WOO_SECRET = "test-webhook-secret"
ERP_TOKEN = "test-erp-token"

WOO_STATUS_MAP = STATUS_MAPPING


def web_channel() -> Channel:
    with service_scope():  # a fixture, built as a service would
        channel = ChannelFactory()
        for status, state in WOO_STATUS_MAP.items():
            ChannelStatusMapping.objects.get_or_create(
                channel=channel, channel_status=status, defaults={"state": state}
            )
    return channel


def woo_connection(
    *,
    slug: str = "woo-web",
    secret: str = WOO_SECRET,
    base_url: str = "http://127.0.0.1:9/",
    consumer_key: str = "ck_t",
    consumer_secret: str = "cs_t",
    **extra: Any,
) -> Connection:
    connection = Connection(
        slug=slug,
        name="Web store (WooCommerce)",
        kind=SystemKind.WOOCOMMERCE,
        base_url=base_url,
        channel=web_channel(),
        **extra,
    )
    connection.set_credentials(
        {
            "webhook_secret": secret,
            "consumer_key": consumer_key,
            "consumer_secret": consumer_secret,
        }
    )
    connection.save()
    return connection


def erp_connection(*, base_url: str, slug: str = "erp-main", **extra: Any) -> Connection:
    extra.setdefault("timeout_s", 5)
    connection = Connection(slug=slug, name="ERP", kind=SystemKind.ERP, base_url=base_url, **extra)
    connection.set_credentials({"token": ERP_TOKEN})
    connection.save()
    return connection
