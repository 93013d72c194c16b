from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from controltower.catalog.choices import ChannelType, LocationType
from controltower.catalog.models import SKU, Channel, Location, Product
from controltower.core.writepath import service_scope


class FixtureFactory[M](DjangoModelFactory[M]):
    """Fixtures are built directly, as a service would (the write-path guard lets them be)."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class: type, *args: object, **kwargs: object) -> M:
        with service_scope():
            return super()._create(model_class, *args, **kwargs)  # type: ignore[return-value]

    @classmethod
    def _get_or_create(cls, model_class: type, *args: object, **kwargs: object) -> M:
        with service_scope():
            return super()._get_or_create(model_class, *args, **kwargs)  # type: ignore[return-value]


class ChannelFactory(FixtureFactory[Channel]):
    class Meta:
        model = Channel
        django_get_or_create = ("code",)

    code = "web"
    name = "Web store"
    type = ChannelType.WOOCOMMERCE
    currency = "EUR"


class LocationFactory(FixtureFactory[Location]):
    class Meta:
        model = Location

    code = factory.Sequence(lambda n: f"loc-{n}")
    name = factory.Sequence(lambda n: f"Warehouse {n}")
    type = LocationType.WAREHOUSE


class ProductFactory(FixtureFactory[Product]):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")


class SKUFactory(FixtureFactory[SKU]):
    class Meta:
        model = SKU

    code = factory.Sequence(lambda n: f"SKU-{n:04d}")
    product = factory.SubFactory(ProductFactory)
    name = factory.LazyAttribute(lambda o: f"{o.product.name} ({o.code})")
    price_amount = factory.Faker("pydecimal", left_digits=3, right_digits=2, positive=True)
    currency = "EUR"
