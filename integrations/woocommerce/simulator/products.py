"""Products and variations: ``/products``, ``/products/<id>``, ``/products/<id>/variations``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from integrations.simkit import Request, Response, json_response
from integrations.woocommerce.simulator.catalog import _ascii_slug
from integrations.woocommerce.simulator.common import wc_error


class ProductsMixin:
    def _product_json(self, item: dict[str, Any]) -> dict[str, Any]:
        is_variation = bool(item["variation_id"])
        product_id = item["variation_id"] or item["product_id"]
        stock = self._stock.get(item["sku"])
        created = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        slug = re.sub(r"[^a-z0-9]+", "-", _ascii_slug(item["name"])).strip("-")
        return {
            "id": product_id,
            "name": item["name"],
            "slug": slug,
            "permalink": f"{self.site_url}product/{slug}/",
            "date_created": self._local(created),
            "date_created_gmt": self._gmt(created),
            "date_modified": self._local(created),
            "date_modified_gmt": self._gmt(created),
            "type": "variation" if is_variation else "simple",
            "status": "publish",
            "featured": False,
            "catalog_visibility": "visible",
            "description": "",
            "short_description": "",
            "sku": item["sku"],
            "price": item["price"],
            "regular_price": item["price"],
            "sale_price": "",
            "on_sale": False,
            "purchasable": True,
            "virtual": False,
            "downloadable": False,
            "tax_status": "taxable",
            "tax_class": "",
            "manage_stock": stock is not None,
            "stock_quantity": stock,
            "stock_status": "instock" if stock is None or stock > 0 else "outofstock",
            "backorders": "no",
            "parent_id": item["product_id"] if is_variation else 0,
            "attributes": [
                {"id": 0, "name": key, "option": value} for key, value in item["attributes"].items()
            ],
            "meta_data": [],
            "_links": {
                "self": [{"href": self._rest_url(f"products/{product_id}")}],
                "collection": [{"href": self._rest_url("products")}],
            },
        }

    def list_products(self, request: Request) -> Response:
        sku = request.arg("sku")
        product_type = request.arg("type")
        with self._lock:
            products = [self._product_json(item) for item in self._catalog]
        if sku:
            wanted = {s.strip() for s in sku.split(",")}
            products = [p for p in products if p["sku"] in wanted]
        if product_type:
            products = [p for p in products if p["type"] == product_type]
        reverse = (request.arg("order") or "desc").lower() == "desc"
        if (request.arg("orderby") or "date") == "title":
            products.sort(key=lambda p: p["name"], reverse=reverse)
        else:
            products.sort(key=lambda p: p["id"], reverse=reverse)
        page = self._paginate(request, products, "products")
        if isinstance(page, Response):
            return page
        items, headers = page
        return json_response(items, 200, headers)

    def get_product(self, request: Request) -> Response:
        product_id = int(request.params["product_id"])
        with self._lock:
            for item in self._catalog:
                if (item["variation_id"] or item["product_id"]) == product_id:
                    return json_response(self._product_json(item))
        return wc_error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)

    def list_variations(self, request: Request) -> Response:
        product_id = int(request.params["product_id"])
        with self._lock:
            variations = [
                self._product_json(item)
                for item in self._catalog
                if item["variation_id"] and item["product_id"] == product_id
            ]
        page = self._paginate(request, variations, f"products/{product_id}/variations")
        if isinstance(page, Response):
            return page
        items, headers = page
        return json_response(items, 200, headers)
