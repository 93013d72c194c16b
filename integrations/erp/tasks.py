"""Scheduled ERP jobs (beat): the ERP's master-data feeds, pulled with a watermark.

Two feeds of the same shape (docs/contracts/erp.md "Stock" and "Items"), each a :class:`Feed`:
``erp.pull_stock`` reads ``GET /api/v1/stock`` (on-hand and unit cost, applied by
``integrations.erp.stock``) and ``erp.pull_prices`` reads ``GET /api/v1/items`` (base price and
tax class, applied by ``integrations.erp.prices``). For every enabled ERP connection, a
``SyncRun`` per run, each page is stored in the inbox (the feed's topic, dedupe key from the hash
of its lines: a page read again is one event), where the feed's handler applies it. Pulled, not
pushed: this is the ERP's master data, and this contract gives the ERP no webhooks for it.

The watermark (``SyncCursor`` named after the feed) is the ERP's own ``updated_at`` clock, never
ours, and it moves only over pages stored. The walk is keyset-like rather than by page number:
after a page, the next request asks again from page 1 past the page's newest ``updated_at`` but
one — so a line changed while we read moves to the end of the feed instead of shifting an unread
one into a page already read (which paging by number with a fixed ``updated_since`` would skip
for good once the watermark passed it). The page's last ``updated_at`` is read again, since the
lines sharing it may go on in the next page; a page all of one ``updated_at`` (a bulk posting
larger than a page) is paged through by number. Re-read lines are harmless: the domain keeps the
newest figure or price and writes nothing for one it holds.

An answer that is not the contract's (HTTP error, timeout, a page out of order) fails the run
with what was wrong; the watermark stays where the last stored page left it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from celery import shared_task
from django.utils import timezone

from controltower.catalog.choices import SystemKind
from controltower.core.context import acting_as
from integrations.erp.prices import ITEMS_PAGE
from integrations.erp.stock import STOCK_PAGE
from integrations.runtime.http import client_for
from integrations.runtime.inbox import record_inbound_event
from integrations.runtime.locks import singleton
from integrations.runtime.models import Connection, SyncCursor, SyncRun

logger = logging.getLogger(__name__)

PULL_STOCK = "erp.pull_stock"  # the Celery task (beat)
PULL = "stock.pull"  # its SyncRun / SyncCursor name
STOCK_PATH = "/api/v1/stock"
PULL_PRICES = "erp.pull_prices"
PULL_ITEMS = "items.pull"
ITEMS_PATH = "/api/v1/items"
PER_PAGE = 500  # the contract's maximum
MAX_PAGES_PER_RUN = 200  # then the next run goes on from the watermark
SERVICE_USER = "sync.erp"


class FeedReadError(ValueError):
    """The ERP's answer is not a page of the feed's contract; the message says what is wrong."""


class StockReadError(FeedReadError):
    """… of the stock feed."""


class ItemReadError(FeedReadError):
    """… of the item (price) feed."""


@dataclass(frozen=True)
class Feed:
    """One of the ERP's paged master-data feeds: where it is read and where its pages go."""

    task: str  # the Celery task; also the X-CT-Source of its stored pages
    name: str  # its SyncRun / SyncCursor name
    path: str
    topic: str  # the inbox topic its handler applies
    resource: str
    object: str  # the stored body's "object"
    error: type[FeedReadError]


STOCK = Feed(PULL_STOCK, PULL, STOCK_PATH, STOCK_PAGE, "stock", "stock_page", StockReadError)
ITEMS = Feed(PULL_PRICES, PULL_ITEMS, ITEMS_PATH, ITEMS_PAGE, "items", "items_page", ItemReadError)


@dataclass(frozen=True)
class Page:
    number: int
    results: list[Any]
    next_page: int | None
    stamps: list[datetime]  # each line's updated_at, in order


def _iso(moment: datetime) -> str:
    """UTC with a ``Z``, in milliseconds as the ERP answers (finer only if the ERP was)."""
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    return moment.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")


def _stamp(line: Any, where: str, feed: Feed) -> datetime:
    value = line.get("updated_at") if isinstance(line, dict) else None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise feed.error(
            f"{where}.updated_at: {str(value)[:40]!r} is not an ISO 8601 time with a time zone "
            "(the watermark cannot move past it)"
        )
    return moment


def fetch_page(
    client: httpx.Client,
    connection: Connection,
    *,
    since: datetime | None,
    page: int,
    per_page: int,
    feed: Feed = STOCK,
) -> dict[str, Any]:
    """One ``GET`` of the feed; its body, or the feed's ``FeedReadError`` / ``httpx.HTTPError``."""
    params: dict[str, Any] = {"page": page, "per_page": per_page}
    if since is not None:
        params["updated_since"] = _iso(since)
    headers = {"Authorization": f"Bearer {connection.credentials.get('token', '')}"}
    response = client.get(feed.path, params=params, headers=headers)
    if response.status_code != 200:
        raise feed.error(
            f"GET {feed.path} page {page} answered HTTP {response.status_code}: "
            f"{response.text[:300]}"
        )
    try:
        body = response.json()
    except ValueError:
        raise feed.error(f"GET {feed.path} page {page} answered a body that is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise feed.error(f"GET {feed.path} page {page}: results is not a list")
    if len(body["results"]) > per_page:
        raise feed.error(
            f"GET {feed.path} page {page}: {len(body['results'])} lines, more than the "
            f"{per_page} asked for"
        )
    next_page = body.get("next_page")
    if next_page is not None and (
        isinstance(next_page, bool) or not isinstance(next_page, int) or next_page <= page
    ):
        raise feed.error(
            f"GET {feed.path} page {page}: next_page {next_page!r} is not a later page"
        )
    return body


def _store(connection: Connection, page: Page, since: datetime | None, feed: Feed) -> bool:
    """Store the page in the inbox; False when the same lines were stored before."""
    content = hashlib.sha256(
        json.dumps(page.results, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    body = {  # no "total": the inbox reads a body's "total" as money at risk
        "object": feed.object,
        "updated_since": _iso(since) if since is not None else None,
        "page": page.number,
        "results": page.results,
    }
    newest = page.stamps[-1] if page.stamps else None
    event_id = record_inbound_event(
        connection,
        body=json.dumps(body, separators=(",", ":")).encode(),
        headers={"X-CT-Source": feed.task},
        topic=feed.topic,
        resource=feed.resource,
        resource_id=_iso(newest) if newest else "",
        source_modified_at=newest,
        dedupe_key=f"erp:{connection.slug}:{feed.resource}:{content}",
    )
    return event_id is not None


def _read_stamps(
    page_body: dict[str, Any], number: int, since: datetime | None, feed: Feed
) -> list[datetime]:
    """Each line's ``updated_at``: after ``since`` and in order, as the contract promises."""
    stamps = [
        _stamp(line, f"page {number} line {i + 1}", feed)
        for i, line in enumerate(page_body["results"])
    ]
    for index, moment in enumerate(stamps):
        if since is not None and moment <= since:
            raise feed.error(
                f"page {number} line {index + 1}: updated_at {_iso(moment)} is not after "
                f"updated_since {_iso(since)}"
            )
        if index and moment < stamps[index - 1]:
            raise feed.error(f"page {number} line {index + 1}: not in updated_at order")
    return stamps


def _take(
    connection: Connection,
    body: dict[str, Any],
    number: int,
    since: datetime | None,
    counts: dict[str, int],
    feed: Feed,
) -> Page:
    """Store a fetched page, then vouch for its stamps: a page whose stamps break the contract
    is stored all the same (its lines are not lost) and then fails the run."""
    try:
        stamps, problem = _read_stamps(body, number, since, feed), None
    except FeedReadError as exc:
        stamps, problem = [], exc
    page = Page(number, body["results"], body.get("next_page"), stamps)
    counts["stored" if _store(connection, page, since, feed) else "duplicate"] += 1
    if problem is not None:
        raise problem
    return page


def _next(page: Page, since: datetime | None) -> tuple[datetime | None, int, bool]:
    """Where to read next, as ``(updated_since, page, done)``; see the module doc."""
    if page.next_page is None:
        return page.stamps[-1], 1, True
    last = page.stamps[-1]
    earlier = [moment for moment in page.stamps if moment < last]
    if earlier:
        return max(earlier), 1, False
    return since, page.next_page, False


def pull_feed_of(
    connection: Connection,
    feed: Feed,
    *,
    per_page: int = PER_PAGE,
    max_pages: int = MAX_PAGES_PER_RUN,
) -> SyncRun:
    """One run of ``feed`` for ``connection``; the run says what it read and stored."""
    run = SyncRun.objects.create(connection=connection, name=feed.name)
    cursor, _ = SyncCursor.objects.get_or_create(connection=connection, name=feed.name)
    since, number = cursor.watermark, 1
    counts = {"requests": 0, "lines": 0, "stored": 0, "duplicate": 0}
    try:
        with client_for(connection) as client:
            while counts["requests"] < max_pages:
                body = fetch_page(
                    client, connection, since=since, page=number, per_page=per_page, feed=feed
                )
                counts["requests"] += 1
                if not body["results"]:
                    break
                counts["lines"] += len(body["results"])
                page = _take(connection, body, number, since, counts, feed)
                since, number, done = _next(page, since)
                if since is not None and since != cursor.watermark:
                    cursor.watermark = since
                    cursor.save(update_fields=["watermark", "updated_at"])
                if done:
                    break
        run.status = SyncRun.Status.SUCCEEDED
    except (httpx.HTTPError, FeedReadError) as exc:
        run.status = SyncRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:4000]
        logger.warning("ERP %s for %s failed: %s", feed.name, connection.slug, exc)
    run.counts = counts
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "counts", "error", "finished_at"])
    return run


def pull_stock_of(
    connection: Connection, *, per_page: int = PER_PAGE, max_pages: int = MAX_PAGES_PER_RUN
) -> SyncRun:
    """One run of the stock feed for ``connection``."""
    return pull_feed_of(connection, STOCK, per_page=per_page, max_pages=max_pages)


def pull_prices_of(
    connection: Connection, *, per_page: int = PER_PAGE, max_pages: int = MAX_PAGES_PER_RUN
) -> SyncRun:
    """One run of the item (price and tax class) feed for ``connection``."""
    return pull_feed_of(connection, ITEMS, per_page=per_page, max_pages=max_pages)


def _pull_every_connection(feed: Feed) -> dict[str, dict[str, Any]]:
    """Pull ``feed`` of every enabled ERP connection (singleton per feed)."""
    results: dict[str, dict[str, Any]] = {}
    with acting_as(SERVICE_USER), singleton(feed.task) as held:
        if not held:
            return results
        for connection in Connection.objects.filter(kind=SystemKind.ERP, enabled=True).order_by(
            "slug"
        ):
            run = pull_feed_of(connection, feed)
            results[connection.slug] = {"status": run.status, **run.counts}
    return results


@shared_task(name=PULL_STOCK)
def pull_stock() -> dict[str, dict[str, Any]]:
    """Pull the stock feed of every enabled ERP connection."""
    return _pull_every_connection(STOCK)


@shared_task(name=PULL_PRICES)
def pull_prices() -> dict[str, dict[str, Any]]:
    """Pull the item feed (base prices, tax classes) of every enabled ERP connection."""
    return _pull_every_connection(ITEMS)
