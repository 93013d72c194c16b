"""``/api/v1/price-pushes/``: the ERP price pushed back to a storefront (ops), and the record of
each push with the store's answer."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from controltower.api.errors import Conflict
from controltower.api.permissions import ModelViewPermissions, requires
from controltower.exceptions.models import OpsException
from controltower.pricing.api.serializers import PricePushRequestSerializer, PricePushSerializer
from controltower.pricing.models import PricePush
from controltower.pricing.services import PricePushError, request_price_push


class PricePushViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Price pushes, newest first. ``POST`` with a price-policy exception and a reason sends the
    ERP price (sale price cleared, the ERP's tax class) to the store; 409 with the reason when it
    cannot (the exception is closed, a push is already on its way, no store sells the channel)."""

    serializer_class = PricePushSerializer
    filterset_fields = ["state"]

    def get_queryset(self) -> QuerySet[PricePush]:
        return PricePush.objects.select_related("sku", "channel", "requested_by")

    def get_permissions(self) -> list:
        if self.action == "create":
            return [requires("exceptions.change_opsexception", "pricing.add_pricepush")()]
        return [ModelViewPermissions()]

    @extend_schema(request=PricePushRequestSerializer, responses={201: PricePushSerializer})
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        data = PricePushRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        exception = OpsException.objects.filter(pk=data.validated_data["exception"]).first()
        if exception is None:
            raise ValidationError(
                {"exception": [f"no exception {data.validated_data['exception']}"]}
            )
        try:
            push = request_price_push(
                exception, actor=request.user, reason=data.validated_data["reason"]
            )
        except PricePushError as exc:
            raise Conflict(str(exc)) from exc
        return Response(PricePushSerializer(push).data, status=status.HTTP_201_CREATED)
