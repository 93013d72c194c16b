"""Variations: ``/products/<id>/variations`` list, create, get, update, delete and batch."""

from __future__ import annotations

from typing import Any

from integrations.simkit import Request, Response, json_response
from integrations.woocommerce.simulator.common import invalid_param, now_s, wc_error, wp_bool
from integrations.woocommerce.simulator.products import (
    INVALID_ID,
    ProductError,
    WooProduct,
    _int_id,
    _stock_status,
)

VARIATION_ORDERBY = ("date", "modified", "id", "include", "title", "slug", "menu_order")
VARIATION_STATUSES = ("any", "draft", "pending", "private", "publish")


class VariationsMixin:
    def _variation_json(self, variation: WooProduct) -> dict[str, Any]:
        parent_id = variation.parent_id
        return {
            "id": variation.id,
            "type": "variation",
            "date_created": self._local(variation.created),
            "date_created_gmt": self._gmt(variation.created),
            "date_modified": self._local(variation.modified),
            "date_modified_gmt": self._gmt(variation.modified),
            "description": variation.description,
            "permalink": f"{self.site_url}?p={variation.id}",
            "sku": variation.sku,
            "price": variation.price,
            "regular_price": variation.regular_price,
            "sale_price": variation.sale_price,
            "date_on_sale_from": self._local(variation.sale_from),
            "date_on_sale_from_gmt": self._gmt(variation.sale_from),
            "date_on_sale_to": self._local(variation.sale_to),
            "date_on_sale_to_gmt": self._gmt(variation.sale_to),
            "on_sale": variation.on_sale,
            "status": variation.status,
            "purchasable": bool(variation.price),
            "virtual": False,
            "downloadable": False,
            "tax_status": "taxable",
            "tax_class": variation.tax_class,
            "manage_stock": variation.manage_stock,
            "stock_quantity": variation.stock_quantity,
            "stock_status": _stock_status(variation),
            "backorders": "no",
            "attributes": [
                {"id": 0, "name": key, "option": value}
                for key, value in variation.attributes.items()
            ],
            "menu_order": 0,
            "meta_data": list(variation.meta_data),
            "name": variation.name,
            "parent_id": parent_id,
            "_links": {
                "self": [
                    {"href": self._rest_url(f"products/{parent_id}/variations/{variation.id}")}
                ],
                "collection": [{"href": self._rest_url(f"products/{parent_id}/variations")}],
                "up": [{"href": self._rest_url(f"products/{parent_id}")}],
            },
        }

    def _parent_or_error(self, product_id: int) -> WooProduct:
        parent = self._products.get(product_id)
        if parent is None or parent.type != "variable":
            raise ProductError(
                "woocommerce_rest_product_variation_invalid_parent_id",
                "Invalid parent ID.",
                404,
            )
        return parent

    def _variation_or_error(self, parent: WooProduct, variation_id: int, status: int) -> WooProduct:
        variation = self._products.get(variation_id)
        if variation is None or variation.parent_id != parent.id:
            raise ProductError("woocommerce_rest_product_variation_invalid_id", INVALID_ID, status)
        return variation

    def _create_variation(self, parent: WooProduct, payload: dict[str, Any]) -> WooProduct:
        attributes = payload.get("attributes") or []
        if not isinstance(attributes, list):
            raise ProductError(
                "rest_invalid_param",
                "Invalid parameter(s): attributes",
                400,
                {"attributes": "attributes is not of type array."},
            )
        chosen = {
            str(a.get("name")): str(a.get("option"))
            for a in attributes
            if isinstance(a, dict) and a.get("name")
        }
        moment = now_s()
        variation = WooProduct(
            id=self._next_product_id,
            type="variation",
            parent_id=parent.id,
            name=" - ".join([parent.name, *chosen.values()]) if chosen else parent.name,
            sku="",
            regular_price="",
            attributes=chosen,
            created=moment,
            modified=moment,
        )
        self._apply_product_fields(variation, payload)
        self._next_product_id += 1
        self._products[variation.id] = variation
        parent.variations.append(variation.id)
        return variation

    def _delete_variation(self, parent: WooProduct, variation_id: int) -> dict[str, Any]:
        variation = self._variation_or_error(parent, variation_id, 404)
        body = self._variation_json(variation)
        del self._products[variation_id]
        parent.variations.remove(variation_id)
        return body

    # -- endpoints --------------------------------------------------------------------------

    def list_variations(self, request: Request) -> Response:
        query = self._list_query(
            request, statuses=VARIATION_STATUSES, orderby=VARIATION_ORDERBY, status_is_array=False
        )
        if isinstance(query, Response):
            return query
        product_id = int(request.params["product_id"])
        with self._lock:
            try:
                parent = self._parent_or_error(product_id)
            except ProductError as exc:
                return exc.response()
            wanted = set(query.statuses) - {"any"}
            selected = [
                v
                for v in (self._products[i] for i in parent.variations)
                if (not wanted or v.status in wanted)
                and query.keeps(
                    id=v.id, created=v.created, modified=v.modified, text=f"{v.name} {v.sku}"
                )
            ]
            selected = query.sort(
                selected,
                {
                    "id": lambda v: v.id,
                    "date": lambda v: v.created,
                    "modified": lambda v: v.modified,
                    "title": lambda v: v.name.lower(),
                },
            )
            page = self._paginate(
                request, selected, f"products/{product_id}/variations", offset=query.offset
            )
            if isinstance(page, Response):
                return page
            items, headers = page
            body = [self._variation_json(v) for v in items]
        return json_response(body, 200, headers)

    def get_variation(self, request: Request) -> Response:
        with self._lock:
            try:
                parent = self._parent_or_error(int(request.params["product_id"]))
                variation = self._variation_or_error(
                    parent, int(request.params["variation_id"]), 404
                )
            except ProductError as exc:
                return exc.response()
            return json_response(self._variation_json(variation))

    def create_variation(self, request: Request) -> Response:
        payload = self._parse_json_object(request)
        if isinstance(payload, Response):
            return payload
        try:
            with self._lock:
                parent = self._parent_or_error(int(request.params["product_id"]))
                variation = self._create_variation(parent, payload)
                body = self._variation_json(variation)
        except ProductError as exc:
            return exc.response()
        self._fire("product.created", variation.id)
        return json_response(body, 201)

    def update_variation(self, request: Request) -> Response:
        payload = self._parse_json_object(request)
        if isinstance(payload, Response):
            return payload
        try:
            with self._lock:
                parent = self._parent_or_error(int(request.params["product_id"]))
                variation = self._variation_or_error(
                    parent, int(request.params["variation_id"]), 400
                )
                self._apply_product_fields(variation, payload)
                body = self._variation_json(variation)
        except ProductError as exc:
            return exc.response()
        self._fire("product.updated", variation.id)
        return json_response(body)

    def delete_variation(self, request: Request) -> Response:
        force = wp_bool(request.arg("force"))
        if force is None and request.arg("force") is not None:
            return invalid_param({"force": "force is not of type boolean."})
        if not force:
            return wc_error(
                "woocommerce_rest_trash_not_supported",
                "The product_variation does not support trashing.",
                501,
            )
        variation_id = int(request.params["variation_id"])
        try:
            with self._lock:
                parent = self._parent_or_error(int(request.params["product_id"]))
                body = self._delete_variation(parent, variation_id)
        except ProductError as exc:
            return exc.response()
        self._fire("product.deleted", variation_id, deleted_payload={"id": variation_id})
        return json_response(body)

    def batch_variations(self, request: Request) -> Response:
        product_id = int(request.params["product_id"])
        with self._lock:
            try:
                self._parent_or_error(product_id)
            except ProductError as exc:
                return exc.response()

        def handle(action: str, item: Any) -> tuple[dict[str, Any], str | None, int]:
            parent = self._parent_or_error(product_id)
            if action == "delete":
                variation_id = _int_id(item)
                return self._delete_variation(parent, variation_id), "product.deleted", variation_id
            if not isinstance(item, dict):
                raise ProductError("rest_invalid_param", f"{action} is not of type object.", 400)
            if action == "create":
                variation = self._create_variation(parent, item)
                return self._variation_json(variation), "product.created", variation.id
            variation = self._variation_or_error(parent, _int_id(item.get("id")), 400)
            self._apply_product_fields(variation, item)
            return self._variation_json(variation), "product.updated", variation.id

        return self._batch(request, handle)
