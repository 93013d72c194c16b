from __future__ import annotations

from django.db import models
from django.db.models import Q

from controltower.catalog.choices import CaptureMode, ChannelType, LocationType, SystemKind
from controltower.core.models import CanonicalModel, canonical_constraints
from controltower.core.money import AmountField, CurrencyField


class Channel(CanonicalModel):
    """A place customers buy: a WooCommerce store, a POS estate, a marketplace."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=32, choices=ChannelType.choices)
    currency = CurrencyField()
    legal_entity = models.CharField(max_length=64, blank=True, default="")

    class Meta(CanonicalModel.Meta):
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Location(CanonicalModel):
    """A warehouse, a store, or a channel's virtual location."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=32, choices=LocationType.choices)
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="locations"
    )
    city = models.CharField(max_length=100, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="")
    is_active = models.BooleanField(default=True)
    # Whose stock count is authoritative here (erp / wms / pos); blank: by type (a warehouse's
    # WMS, a store's POS, the ERP otherwise: inventory.choices.DEFAULT_AUTHORITY).
    stock_authority = models.CharField(
        max_length=16,
        blank=True,
        default="",
        choices=[("", "By location type"), ("erp", "ERP"), ("wms", "WMS"), ("pos", "POS")],
    )

    class Meta(CanonicalModel.Meta):
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Product(CanonicalModel):
    name = models.CharField(max_length=255)
    brand = models.CharField(max_length=100, blank=True, default="")
    category = models.CharField(max_length=100, blank=True, default="")
    tax_class = models.CharField(max_length=32, blank=True, default="standard")

    class Meta(CanonicalModel.Meta):
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SKU(CanonicalModel):
    """A sellable variant of a product."""

    code = models.CharField(max_length=64, unique=True)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="skus")
    name = models.CharField(max_length=255)
    attributes = models.JSONField(default=dict, blank=True)
    barcode = models.CharField(max_length=64, blank=True, default="")
    price_amount = AmountField()
    currency = CurrencyField()
    # What a unit costs us (from the ERP's item master): values drift and margins at risk.
    cost_amount = AmountField(default=0)
    # The ERP's item master (integrations.erp.prices): the base price promotions are measured
    # against and the tax class the storefront must charge; null / blank until the ERP sends one.
    erp_price_amount = AmountField(null=True, blank=True, default=None)
    erp_tax_class = models.CharField(max_length=32, blank=True, default="")
    erp_price_updated_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta(CanonicalModel.Meta):
        ordering = ["code"]
        verbose_name = "SKU"
        constraints = canonical_constraints(
            models.CheckConstraint(
                condition=Q(price_amount__gte=0), name="catalog_sku_price_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(erp_price_amount__isnull=True) | Q(erp_price_amount__gte=0),
                name="catalog_sku_erp_price_nonneg",
            ),
        )

    def __str__(self) -> str:
        return self.code


class ChannelPrice(CanonicalModel):
    """What one storefront asks for a SKU, as its product sync last read it: the regular price,
    the sale price and its schedule, the price it charges now and its tax class. One row per
    SKU × channel, so a SKU sold on several storefronts is governed on each
    (``controltower.pricing``). ``SKU.price_amount`` stays the price a channel charges now."""

    sku = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="channel_prices")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="prices")
    currency = CurrencyField()
    price_amount = AmountField()  # charged now (WooCommerce ``price``)
    regular_price_amount = AmountField(null=True, blank=True, default=None)
    sale_price_amount = AmountField(null=True, blank=True, default=None)
    sale_from = models.DateTimeField(null=True, blank=True)
    sale_to = models.DateTimeField(null=True, blank=True)
    tax_class = models.CharField(max_length=32, blank=True, default="standard")

    class Meta(CanonicalModel.Meta):
        ordering = ["channel_id", "sku_id"]
        constraints = canonical_constraints(
            models.UniqueConstraint(fields=["sku", "channel"], name="catalog_channelprice_uniq"),
            models.CheckConstraint(
                condition=Q(price_amount__gte=0)
                & (Q(regular_price_amount__isnull=True) | Q(regular_price_amount__gte=0))
                & (Q(sale_price_amount__isnull=True) | Q(sale_price_amount__gte=0)),
                name="catalog_channelprice_nonneg",
            ),
        )

    def __str__(self) -> str:
        return f"{self.sku_id} on {self.channel_id}: {self.price_amount} {self.currency}"


class SKUCrossReference(CanonicalModel):
    """How another system names a SKU (a WooCommerce product id, an ERP item number)."""

    sku = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="cross_references")
    system = models.CharField(max_length=32, choices=SystemKind.choices)
    system_code = models.CharField(max_length=128)

    class Meta(CanonicalModel.Meta):
        verbose_name = "SKU cross reference"
        constraints = canonical_constraints(
            models.UniqueConstraint(
                fields=["system", "system_code"], name="catalog_skuxref_system_code_uniq"
            ),
        )

    def __str__(self) -> str:
        return f"{self.system}:{self.system_code} → {self.sku_id}"


class PaymentMethod(CanonicalModel):
    """Admin-editable: a channel's payment method code (WooCommerce ``payment_method``) and when
    its money is taken: at checkout, authorized then captured at shipment, or outside the gateway.
    """

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    capture_mode = models.CharField(
        max_length=16, choices=CaptureMode.choices, default=CaptureMode.AT_CHECKOUT
    )
    enabled = models.BooleanField(default=True)

    class Meta(CanonicalModel.Meta):
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.get_capture_mode_display()})"
