"""Products: ``/products`` (simple and variable parents), ``/products/<id>``, ``/products/batch``.

The catalog a simulator starts with becomes a product store: items without a ``variation_id``
are simple products, items with one are variations of a ``variable`` parent (``product_id``),
which is rendered with its ``variations`` ids as WooCommerce does. ``/products`` lists simple and
variable products only; variations are under ``/products/<id>/variations`` (see variations.py).
"""

from __future__ import annotations

import itertools
import re
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from integrations.simkit import Request, Response, json_response
from integrations.woocommerce.simulator.catalog import _ascii_slug
from integrations.woocommerce.simulator.common import (
    BATCH_LIMIT,
    invalid_param,
    not_one_of,
    now_s,
    wc_error,
    wp_bool,
)

PRODUCT_TYPES = ("simple", "grouped", "external", "variable")
PRODUCT_STATUSES = ("draft", "pending", "private", "publish")
LIST_STATUSES = ("any", "future", "trash", "draft", "pending", "private", "publish")
PRODUCT_ORDERBY = (
    "date",
    "modified",
    "id",
    "include",
    "title",
    "slug",
    "price",
    "popularity",
    "rating",
    "menu_order",
)
CATALOG_DATE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
INVALID_ID = "Invalid ID."
STOCK_CHANGES_KEPT = 100_000  # the newest stock changes ``/_sim/stock-changes`` can show


@dataclass
class WooProduct:
    id: int
    type: str  # simple | variable | variation
    name: str
    sku: str
    regular_price: str
    status: str = "publish"
    parent_id: int = 0
    sale_price: str = ""
    stock_quantity: int | None = None
    manage_stock: bool = False
    attributes: dict[str, str] = field(default_factory=dict)
    description: str = ""
    created: datetime = CATALOG_DATE
    modified: datetime = CATALOG_DATE
    variations: list[int] = field(default_factory=list)
    meta_data: list[dict[str, Any]] = field(default_factory=list)
    tax_class: str = ""  # WooCommerce's blank one is the standard rate
    sale_from: datetime | None = None  # date_on_sale_from(_gmt): the sale's schedule
    sale_to: datetime | None = None

    @property
    def on_sale(self) -> bool:
        """``WC_Product::is_on_sale``: a sale price, and now inside its schedule (if any)."""
        if not self.sale_price:
            return False
        now = datetime.now(UTC)
        return (self.sale_from is None or self.sale_from <= now) and (
            self.sale_to is None or now < self.sale_to
        )

    @property
    def price(self) -> str:
        return self.sale_price if self.on_sale else self.regular_price


class ProductError(Exception):
    """A per-item failure, answered as WooCommerce's ``{"code", "message", "data"}``."""

    def __init__(
        self, code: str, message: str, status: int, params: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.params = code, message, status, params

    def response(self) -> Response:
        if self.params:
            return invalid_param(self.params)
        return wc_error(self.code, self.message, self.status)

    def batch_body(self, item_id: int) -> dict[str, Any]:
        return {
            "id": item_id,
            "error": {"code": self.code, "message": self.message, "data": {"status": self.status}},
        }


def products_from_catalog(catalog: list[dict[str, Any]]) -> dict[int, WooProduct]:
    products: dict[int, WooProduct] = {}
    for item in catalog:
        stock = item["stock_quantity"]
        if not item["variation_id"]:
            products[item["product_id"]] = WooProduct(
                id=item["product_id"],
                type="simple",
                name=item["name"],
                sku=item["sku"],
                regular_price=item["price"],
                stock_quantity=stock,
                manage_stock=stock is not None,
                attributes=dict(item["attributes"]),
            )
            continue
        parent = products.get(item["product_id"])
        if parent is None:
            parent = products[item["product_id"]] = WooProduct(
                id=item["product_id"],
                type="variable",
                name=item["parent_name"] or item["name"],
                sku="",
                regular_price="",
            )
        parent.variations.append(item["variation_id"])
        products[item["variation_id"]] = WooProduct(
            id=item["variation_id"],
            type="variation",
            parent_id=item["product_id"],
            name=item["name"],
            sku=item["sku"],
            regular_price=item["price"],
            stock_quantity=stock,
            manage_stock=stock is not None,
            attributes=dict(item["attributes"]),
        )
    return products


def _stock_status(product: WooProduct) -> str:
    if not product.manage_stock or product.stock_quantity is None:
        return "instock"
    return "instock" if product.stock_quantity > 0 else "outofstock"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", _ascii_slug(name)).strip("-")


class ProductsMixin:
    _lock: Any
    _products: dict[int, WooProduct]
    _next_product_id: int
    _stock_changes: deque[dict[str, Any]]
    _stock_seq: int

    # -- store ------------------------------------------------------------------------------

    def _init_stock_changes(self) -> None:
        """The record of stock changes (the shop has none: WordPress keeps only the product's
        ``date_modified``, to the second), so a test or a benchmark can see when a figure
        landed without polling every product. Sequence numbers never restart."""
        self._stock_changes = deque(maxlen=STOCK_CHANGES_KEPT)
        self._stock_seq = 0

    def _record_stock_change(self, product: WooProduct) -> None:
        """Note the product's new ``stock_quantity`` and when it took it (lock held)."""
        self._stock_seq += 1
        self._stock_changes.append(
            {
                "seq": self._stock_seq,
                "at": time.time(),
                "id": product.id,
                "parent_id": product.parent_id,
                "sku": product.sku,
                "stock_quantity": product.stock_quantity,
            }
        )

    def stock_changes(self, after: int = 0) -> tuple[list[dict[str, Any]], int]:
        """The stock changes with a ``seq`` above ``after``, oldest first, and the last seq."""
        with self._lock:
            if not self._stock_changes:
                return [], self._stock_seq
            start = max(0, after + 1 - self._stock_changes[0]["seq"])
            changes = [dict(c) for c in itertools.islice(self._stock_changes, start, None)]
            return changes, self._stock_seq

    def _load_products(self, catalog: list[dict[str, Any]]) -> None:
        self._products = products_from_catalog(catalog)
        self._next_product_id = max(self._products, default=100) + 1

    def _line_source(self, product: WooProduct) -> dict[str, Any]:
        """What an order line needs from a purchasable product."""
        parent = self._products.get(product.parent_id) if product.parent_id else None
        return {
            "sku": product.sku,
            "name": product.name,
            "price": product.price,
            "product_id": parent.id if parent else product.id,
            "variation_id": product.id if parent else 0,
            "parent_name": parent.name if parent else None,
            "attributes": dict(product.attributes) if parent else {},
        }

    def _purchasable(self) -> list[WooProduct]:
        return [
            p
            for p in self._products.values()
            if p.type in ("simple", "variation")
            and p.status == "publish"
            and (not p.parent_id or self._products[p.parent_id].status == "publish")
        ]

    def _find_purchasable(self, line: dict[str, Any]) -> WooProduct | None:
        """Resolve a REST line item (``sku`` or ``product_id`` [+ ``variation_id``])."""
        sku = line.get("sku")
        product_id = line.get("product_id") or 0
        variation_id = line.get("variation_id") or 0
        for product in self._purchasable():
            if sku:
                if product.sku == sku:
                    return product
            elif variation_id:
                if product.id == variation_id and product_id in (0, product.parent_id):
                    return product
            elif product_id and product.id == product_id:
                return product
        return None

    def _adjust_sku_stock(self, sku: str, delta: int) -> None:
        for product in self._products.values():
            if product.sku == sku and product.manage_stock and product.stock_quantity is not None:
                product.stock_quantity += delta
                product.modified = now_s()
                self._record_stock_change(product)
                return

    # -- rendering --------------------------------------------------------------------------

    def _product_json(self, product: WooProduct) -> dict[str, Any]:
        children = [self._products[v] for v in product.variations if v in self._products]
        if product.type == "variable":
            prices = [Decimal(c.price) for c in children if c.price]
            price = str(min(prices)) if prices else ""
            stock_status = (
                "instock" if any(_stock_status(c) == "instock" for c in children) else "outofstock"
            )
            attributes: list[dict[str, Any]] = []
            for name in dict.fromkeys(k for c in children for k in c.attributes):
                options = list(dict.fromkeys(c.attributes[name] for c in children))
                attributes.append(
                    {
                        "id": 0,
                        "name": name,
                        "position": len(attributes),
                        "visible": True,
                        "variation": True,
                        "options": options,
                    }
                )
        else:
            price, stock_status = product.price, _stock_status(product)
            attributes = [
                {"id": 0, "name": key, "option": value} for key, value in product.attributes.items()
            ]
        slug = _slug(product.name)
        links: dict[str, Any] = {
            "self": [{"href": self._rest_url(f"products/{product.id}")}],
            "collection": [{"href": self._rest_url("products")}],
        }
        if product.parent_id:
            links["up"] = [{"href": self._rest_url(f"products/{product.parent_id}")}]
        return {
            "id": product.id,
            "name": product.name,
            "slug": slug,
            "permalink": f"{self.site_url}product/{slug}/",
            "date_created": self._local(product.created),
            "date_created_gmt": self._gmt(product.created),
            "date_modified": self._local(product.modified),
            "date_modified_gmt": self._gmt(product.modified),
            "type": product.type,
            "status": product.status,
            "featured": False,
            "catalog_visibility": "visible",
            "description": product.description,
            "short_description": "",
            "sku": product.sku,
            "price": price,
            "regular_price": "" if product.type == "variable" else product.regular_price,
            "sale_price": product.sale_price,
            "date_on_sale_from": self._local(product.sale_from),
            "date_on_sale_from_gmt": self._gmt(product.sale_from),
            "date_on_sale_to": self._local(product.sale_to),
            "date_on_sale_to_gmt": self._gmt(product.sale_to),
            "on_sale": product.on_sale,
            "purchasable": product.type != "variable" or bool(children),
            "virtual": False,
            "downloadable": False,
            "tax_status": "taxable",
            "tax_class": product.tax_class,
            "manage_stock": product.manage_stock,
            "stock_quantity": product.stock_quantity,
            "stock_status": stock_status,
            "backorders": "no",
            "parent_id": product.parent_id,
            "attributes": attributes,
            "variations": list(product.variations),
            "meta_data": list(product.meta_data),
            "_links": links,
        }

    # -- writing ----------------------------------------------------------------------------

    def _apply_product_fields(self, product: WooProduct, payload: dict[str, Any]) -> None:
        """Validate and apply writable fields; raise ProductError before changing anything."""
        changes: dict[str, Any] = {}
        for key in ("name", "sku", "description", "tax_class"):
            if key in payload:
                if not isinstance(payload[key], str):
                    raise _type_error(key, "string")
                changes[key] = payload[key]
        for key in ("regular_price", "sale_price"):
            if key in payload:
                value = payload[key]
                if not isinstance(value, str):
                    raise _type_error(key, "string")
                if value:
                    try:
                        Decimal(value)
                    except InvalidOperation:
                        raise _type_error(key, "string") from None
                changes[key] = value
        for key, attribute in (
            ("date_on_sale_from_gmt", "sale_from"),
            ("date_on_sale_to_gmt", "sale_to"),
        ):
            if key in payload:
                changes[attribute] = _sale_date(payload[key], key)
        if "status" in payload:
            allowed = PRODUCT_STATUSES if product.type != "variation" else ("private", "publish")
            if payload["status"] not in allowed:
                message = not_one_of("status", allowed)
                raise ProductError(
                    "rest_invalid_param", "Invalid parameter(s): status", 400, {"status": message}
                )
            changes["status"] = payload["status"]
        if "manage_stock" in payload:
            if not isinstance(payload["manage_stock"], bool):
                raise _type_error("manage_stock", "boolean")
            changes["manage_stock"] = payload["manage_stock"]
        if "stock_quantity" in payload:
            quantity = payload["stock_quantity"]
            if quantity is not None and (
                isinstance(quantity, bool) or not isinstance(quantity, int)
            ):
                raise _type_error("stock_quantity", "integer")
            changes["stock_quantity"] = quantity
        if "meta_data" in payload:
            if not isinstance(payload["meta_data"], list):
                raise _type_error("meta_data", "array")
            changes["meta_data"] = [
                {"id": index + 1, "key": str(m["key"]), "value": m.get("value")}
                for index, m in enumerate(payload["meta_data"])
                if isinstance(m, dict) and "key" in m
            ]
        sku = changes.get("sku")
        if sku and any(p.sku == sku and p.id != product.id for p in self._products.values()):
            raise ProductError("product_invalid_sku", "Invalid or duplicated SKU.", 400)
        stock_before = product.stock_quantity
        for key, value in changes.items():
            setattr(product, key, value)
        if "stock_quantity" in changes and "manage_stock" not in changes:
            product.manage_stock = product.manage_stock or changes["stock_quantity"] is not None
        product.modified = now_s()
        if product.stock_quantity != stock_before:
            self._record_stock_change(product)

    def _create_product(self, payload: dict[str, Any]) -> WooProduct:
        product_type = payload.get("type", "simple")
        if product_type not in PRODUCT_TYPES:
            raise ProductError(
                "rest_invalid_param",
                "Invalid parameter(s): type",
                400,
                {"type": not_one_of("type", PRODUCT_TYPES)},
            )
        moment = now_s()
        product = WooProduct(
            id=self._next_product_id,
            type=product_type,
            name="Product",
            sku="",
            regular_price="",
            created=moment,
            modified=moment,
        )
        self._apply_product_fields(product, payload)
        self._next_product_id += 1
        self._products[product.id] = product
        return product

    def _get_product_or_error(self, product_id: int, status: int) -> WooProduct:
        product = self._products.get(product_id)
        if product is None:
            raise ProductError("woocommerce_rest_product_invalid_id", INVALID_ID, status)
        return product

    def _delete_product(self, product_id: int, *, force: bool) -> tuple[dict[str, Any], bool]:
        """Return (body, trashed) or raise; the body is the product as it was."""
        product = self._get_product_or_error(product_id, 404)
        if product.type == "variation":
            raise ProductError("woocommerce_rest_product_invalid_id", INVALID_ID, 404)
        body = self._product_json(product)
        if force:
            for child in product.variations:
                self._products.pop(child, None)
            del self._products[product_id]
            return body, False
        if product.status == "trash":
            raise ProductError(
                "woocommerce_rest_already_trashed", "The product has already been deleted.", 410
            )
        product.status = "trash"
        product.modified = now_s()
        return self._product_json(product), True

    # -- endpoints --------------------------------------------------------------------------

    def list_products(self, request: Request) -> Response:
        query = self._list_query(
            request, statuses=LIST_STATUSES, orderby=PRODUCT_ORDERBY, status_is_array=False
        )
        if isinstance(query, Response):
            return query
        if request.arg("type") and request.arg("type") not in PRODUCT_TYPES:
            return invalid_param({"type": not_one_of("type", PRODUCT_TYPES)})
        skus = {s.strip() for s in (request.arg("sku") or "").split(",") if s.strip()}
        wanted = set(query.statuses) - {"any"} or None
        with self._lock:
            selected = []
            for product in self._products.values():
                if product.type == "variation":
                    continue
                if wanted is None:
                    if product.status == "trash" and "any" not in query.statuses:
                        continue
                elif product.status not in wanted:
                    continue
                if skus and product.sku not in skus:
                    continue
                if request.arg("type") and product.type != request.arg("type"):
                    continue
                if not query.keeps(
                    id=product.id,
                    created=product.created,
                    modified=product.modified,
                    text=f"{product.name} {product.sku} {product.description}",
                ):
                    continue
                selected.append(product)
            selected = query.sort(
                selected,
                {
                    "id": lambda p: p.id,
                    "date": lambda p: p.created,
                    "modified": lambda p: p.modified,
                    "title": lambda p: p.name.lower(),
                    "slug": lambda p: _slug(p.name),
                    "price": lambda p: Decimal(p.price or "0"),
                },
            )
            page = self._paginate(request, selected, "products", offset=query.offset)
            if isinstance(page, Response):
                return page
            items, headers = page
            body = [self._product_json(p) for p in items]
        return json_response(body, 200, headers)

    def get_product(self, request: Request) -> Response:
        with self._lock:
            product = self._products.get(int(request.params["product_id"]))
            if product is None:
                return wc_error("woocommerce_rest_product_invalid_id", INVALID_ID, 404)
            return json_response(self._product_json(product))

    def create_product(self, request: Request) -> Response:
        payload = self._parse_json_object(request)
        if isinstance(payload, Response):
            return payload
        try:
            with self._lock:
                product = self._create_product(payload)
                body = self._product_json(product)
        except ProductError as exc:
            return exc.response()
        self._fire("product.created", product.id)
        return json_response(body, 201, {"Location": self._rest_url(f"products/{product.id}")})

    def update_product(self, request: Request) -> Response:
        payload = self._parse_json_object(request)
        if isinstance(payload, Response):
            return payload
        try:
            with self._lock:
                product = self._get_product_or_error(int(request.params["product_id"]), 400)
                self._apply_product_fields(product, payload)
                body = self._product_json(product)
        except ProductError as exc:
            return exc.response()
        self._fire("product.updated", product.id)
        return json_response(body)

    def delete_product(self, request: Request) -> Response:
        force = wp_bool(request.arg("force"))
        if force is None and request.arg("force") is not None:
            return invalid_param({"force": "force is not of type boolean."})
        product_id = int(request.params["product_id"])
        try:
            with self._lock:
                body, _ = self._delete_product(product_id, force=bool(force))
        except ProductError as exc:
            return exc.response()
        self._fire("product.deleted", product_id, deleted_payload={"id": product_id})
        return json_response(body)

    def restore_product(self, product_id: int) -> dict[str, Any] | None:
        """Untrash a product (``wp_untrash_post``: back to draft, WordPress 5.6+)."""
        with self._lock:
            product = self._products.get(product_id)
            if product is None or product.status != "trash":
                return None
            product.status = "draft"
            product.modified = now_s()
            body = self._product_json(product)
        self._fire("product.restored", product_id)
        return body

    def sim_stock_changes(self, request: Request) -> Response:
        """``GET /_sim/stock-changes?after=<seq>``: the stock changes since ``after``."""
        after = request.arg("after") or "0"
        if not after.isdigit():
            return json_response({"error": "after must be a whole number >= 0 (a seq)"}, 400)
        changes, last = self.stock_changes(int(after))
        return json_response({"changes": changes, "last": last})

    def batch_products(self, request: Request) -> Response:
        return self._batch(request, self._batch_product_item)

    def _batch_product_item(self, action: str, item: Any) -> tuple[dict[str, Any], str | None, int]:
        """One batch entry: (answer, topic to fire or None, resource id)."""
        if action == "delete":
            product_id = _int_id(item)
            body, _ = self._delete_product(product_id, force=True)
            return body, "product.deleted", product_id
        if not isinstance(item, dict):
            raise ProductError("rest_invalid_param", f"{action} is not of type object.", 400)
        if action == "create":
            product = self._create_product(item)
            return self._product_json(product), "product.created", product.id
        product = self._get_product_or_error(_int_id(item.get("id")), 400)
        self._apply_product_fields(product, item)
        return self._product_json(product), "product.updated", product.id

    def _batch(self, request: Request, handle: Any) -> Response:
        """``WC_REST_Controller::batch_items``: limit first, then each entry on its own."""
        payload = self._parse_json_object(request)
        if isinstance(payload, Response):
            return payload
        sections = {k: payload.get(k) for k in ("create", "update", "delete") if payload.get(k)}
        for key, value in sections.items():
            if not isinstance(value, list):
                return invalid_param({key: f"{key} is not of type array."})
        total = sum(len(v) for v in sections.values())
        if total > BATCH_LIMIT:
            return wc_error(
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {BATCH_LIMIT} items for this request.",
                413,
            )
        answer: dict[str, list[dict[str, Any]]] = {}
        fired: list[tuple[str, int, dict[str, Any] | None]] = []
        for action in ("create", "update", "delete"):
            for item in sections.get(action, []):
                if action == "delete" and _int_id(item) == 0:
                    continue
                try:
                    with self._lock:
                        body, topic, resource_id = handle(action, item)
                except ProductError as exc:
                    fallback = item.get("id", 0) if isinstance(item, dict) else _int_id(item)
                    answer.setdefault(action, []).append(
                        exc.batch_body(0 if action == "create" else fallback)
                    )
                    continue
                answer.setdefault(action, []).append(body)
                if topic:
                    deleted = {"id": resource_id} if topic.endswith(".deleted") else None
                    fired.append((topic, resource_id, deleted))
        for topic, resource_id, deleted in fired:
            self._fire(topic, resource_id, deleted_payload=deleted)
        return json_response(answer)


def _int_id(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def _sale_date(value: Any, name: str) -> datetime | None:
    """A ``*_gmt`` sale date: ``YYYY-MM-DDTHH:MM:SS`` in UTC; null or ``""`` unschedules."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise _type_error(name, "string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ProductError(
            "rest_invalid_param",
            f"Invalid parameter(s): {name}",
            400,
            {name: f"Invalid date: {value[:40]}"},
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _type_error(name: str, kind: str) -> ProductError:
    return ProductError(
        "rest_invalid_param",
        f"Invalid parameter(s): {name}",
        400,
        {name: f"{name} is not of type {kind}."},
    )
