"""Date filters and pagination answer bad input with 400 and a message per field."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client

from controltower.core.forms import SafeDateTimeField


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/orders/", "placed_after"),
        ("/api/v1/orders/", "placed_before"),
        ("/api/v1/exceptions/", "opened_after"),
        ("/api/v1/exceptions/", "opened_before"),
    ],
)
def test_date_filter_offset_beyond_postgres_range_is_400(
    client: Client, admin_user: User, url: str, field: str
) -> None:
    # given
    client.force_login(admin_user)
    # when
    response = client.get(url, {field: "2026-01-01T00:00:00+16:00"})
    # then
    assert response.status_code == 400
    assert response.json() == {
        field: ["Enter a date/time whose UTC offset is between -15:59 and +15:59 (got +16:00)."]
    }


def test_date_filter_offset_at_the_limit_is_accepted(client: Client, admin_user: User) -> None:
    # given
    client.force_login(admin_user)
    # when
    response = client.get("/api/v1/orders/", {"placed_after": "2026-01-01T00:00:00-15:59"})
    # then
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_date_filter_that_overflows_in_utc_is_400(client: Client, admin_user: User) -> None:
    # given
    client.force_login(admin_user)
    # when
    response = client.get("/api/v1/exceptions/", {"opened_after": "0001-01-01T00:00:00+01:00"})
    # then
    assert response.status_code == 400
    assert response.json() == {
        "opened_after": ["Enter a date/time between 0001-01-02 and 9999-12-30."]
    }


def test_date_filter_not_a_date_is_400(client: Client, admin_user: User) -> None:
    # given
    client.force_login(admin_user)
    # when
    response = client.get("/api/v1/orders/", {"placed_before": "yesterday"})
    # then
    assert response.status_code == 400
    assert response.json() == {"placed_before": ["Enter a valid date/time."]}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page": "0"}, {"page": ["A positive whole number is required (got '0')."]}),
        ({"page": "x"}, {"page": ["A positive whole number is required (got 'x')."]}),
        ({"page_size": "501"}, {"page_size": ["At most 500 (got 501)."]}),
    ],
)
def test_pagination_bad_page_is_400(
    client: Client, admin_user: User, params: dict[str, str], message: dict[str, list[str]]
) -> None:
    # given
    client.force_login(admin_user)
    # when
    response = client.get("/api/v1/orders/", params)
    # then
    assert response.status_code == 400
    assert response.json() == message


def test_unknown_api_url_is_json_404(client: Client, admin_user: User) -> None:
    # given
    client.force_login(admin_user)
    # when
    response = client.get("/api/v1/orders/0.5/")
    # then
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_safe_datetime_field_for_page_forms_refuses_offsets_postgres_cannot_store() -> None:
    # given
    field = SafeDateTimeField(input_formats=["%Y-%m-%dT%H:%M:%S%z"])
    # when
    with pytest.raises(ValidationError) as errors:
        field.clean("2026-01-01T00:00:00-16:30")
    # then
    assert errors.value.messages == [
        "Enter a date/time whose UTC offset is between -15:59 and +15:59 (got -16:30)."
    ]
