from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from controltower.catalog.choices import ChannelType, LocationType
from controltower.catalog.models import SKU, Channel, Location, Product


class ChannelFactory(DjangoModelFactory[Channel]):
    class Meta:
        model = Channel
        django_get_or_create = ("code",)

    code = "web"
    name = "Web store"
    type = ChannelType.WOOCOMMERCE
    currency = "EUR"


class LocationFactory(DjangoModelFactory[Location]):
    class Meta:
        model = Location

    code = factory.Sequence(lambda n: f"loc-{n}")
    name = factory.Sequence(lambda n: f"Warehouse {n}")
    type = LocationType.WAREHOUSE


class ProductFactory(DjangoModelFactory[Product]):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")


class SKUFactory(DjangoModelFactory[SKU]):
    class Meta:
        model = SKU

    code = factory.Sequence(lambda n: f"SKU-{n:04d}")
    product = factory.SubFactory(ProductFactory)
    name = factory.LazyAttribute(lambda o: f"{o.product.name} ({o.code})")
    price_amount = factory.Faker("pydecimal", left_digits=3, right_digits=2, positive=True)
    currency = "EUR"
