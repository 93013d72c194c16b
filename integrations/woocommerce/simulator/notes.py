"""Order notes: ``/orders/<id>/notes`` list, create, get, delete (comments on the order)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from integrations.simkit import Request, Response, json_response
from integrations.woocommerce.simulator.common import (
    WooOrder,
    invalid_param,
    not_one_of,
    now_s,
    wc_error,
    wp_bool,
)

API_USER = "admin"
NOTE_TYPES = ("any", "customer", "internal")


@dataclass
class WooNote:
    id: int
    order_id: int
    note: str
    customer_note: bool
    author: str  # "system" (WooCommerce) or the API user's display name
    created: datetime


class NotesMixin:
    _next_note_id: int

    def render_note(self, note: WooNote) -> dict[str, Any]:
        base = f"orders/{note.order_id}/notes"
        return {
            "id": note.id,
            "author": note.author,
            "date_created": self._local(note.created),
            "date_created_gmt": self._gmt(note.created),
            "note": note.note,
            "customer_note": note.customer_note,
            "_links": {
                "self": [{"href": self._rest_url(f"{base}/{note.id}")}],
                "collection": [{"href": self._rest_url(base)}],
                "up": [{"href": self._rest_url(f"orders/{note.order_id}")}],
            },
        }

    def _order_for_notes(self, request: Request) -> WooOrder | Response:
        order = self._orders.get(int(request.params["order_id"]))
        if order is None:
            return wc_error("woocommerce_rest_order_invalid_id", "Invalid order ID.", 404)
        return order

    def _find_note(self, request: Request) -> tuple[WooOrder, WooNote] | Response:
        order = self._order_for_notes(request)
        if isinstance(order, Response):
            return order
        note_id = int(request.params["note_id"])
        note = next((n for n in order.notes if n.id == note_id), None)
        if note is None:
            return wc_error("woocommerce_rest_invalid_id", "Invalid resource ID.", 404)
        return order, note

    def list_notes(self, request: Request) -> Response:
        note_type = request.arg("type") or "any"
        if note_type not in NOTE_TYPES:
            return invalid_param({"type": not_one_of("type", NOTE_TYPES)})
        with self._lock:
            order = self._order_for_notes(request)
            if isinstance(order, Response):
                return order
            notes = [
                n
                for n in sorted(order.notes, key=lambda n: n.id, reverse=True)
                if note_type == "any" or n.customer_note == (note_type == "customer")
            ]
            return json_response([self.render_note(n) for n in notes])

    def get_note(self, request: Request) -> Response:
        with self._lock:
            found = self._find_note(request)
            if isinstance(found, Response):
                return found
            return json_response(self.render_note(found[1]))

    def create_note(self, request: Request) -> Response:
        payload = self._parse_json_object(request)
        if isinstance(payload, Response):
            return payload
        if payload.get("id"):
            return wc_error(
                "woocommerce_rest_order_note_exists", "Cannot create existing order_note.", 400
            )
        if "note" not in payload:
            return json_response(
                {
                    "code": "rest_missing_callback_param",
                    "message": "Missing parameter(s): note",
                    "data": {"status": 400, "params": ["note"]},
                },
                400,
            )
        if not isinstance(payload["note"], str):
            return invalid_param({"note": "note is not of type string."})
        for flag in ("customer_note", "added_by_user"):
            if flag in payload and not isinstance(payload[flag], bool):
                return invalid_param({flag: f"{flag} is not of type boolean."})
        if not payload["note"]:
            return wc_error(
                "woocommerce_api_cannot_create_order_note",
                "Cannot create order note, please try again.",
                500,
            )
        with self._lock:
            order = self._order_for_notes(request)
            if isinstance(order, Response):
                return order
            note = WooNote(
                id=self._next_note_id,
                order_id=order.id,
                note=payload["note"],
                customer_note=payload.get("customer_note") is True,
                author=API_USER if payload.get("added_by_user") is True else "system",
                created=now_s(),
            )
            self._next_note_id += 1
            order.notes.append(note)
            body = self.render_note(note)
        return json_response(body, 201, {"Location": body["_links"]["self"][0]["href"]})

    def delete_note(self, request: Request) -> Response:
        force = wp_bool(request.arg("force"))
        if force is None and request.arg("force") is not None:
            return invalid_param({"force": "force is not of type boolean."})
        if not force:
            return wc_error(
                "woocommerce_rest_trash_not_supported",
                "The order_note does not support trashing.",
                501,
            )
        with self._lock:
            found = self._find_note(request)
            if isinstance(found, Response):
                return found
            order, note = found
            order.notes.remove(note)
            return json_response(self.render_note(note))
