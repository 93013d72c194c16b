"""The after-commit publisher: nothing for a rollback, one message per kind per batch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import transaction

from controltower.core import live


@pytest.fixture
def sent() -> Iterator[list[tuple[str, live.LiveUpdate]]]:
    messages: list[tuple[str, live.LiveUpdate]] = []
    renders: list[dict[int, bool]] = []

    def render(changed: dict[int, bool]) -> str:
        renders.append(dict(changed))
        return "".join(f"<tr id='thing-{pk}' data-created='{c}'></tr>" for pk, c in changed.items())

    live.register_renderer("thing", render=render, permission="things.view", group="g.things")
    live.set_sink(lambda group, message: messages.append((group, message)))
    yield messages
    from controltower.dashboards import publish

    live.set_sink(publish.send)


@pytest.mark.django_db(transaction=True)
def test_changed_pushes_only_after_commit(sent: list) -> None:
    # when
    with transaction.atomic():
        live.changed("thing", 1, created=True)
        assert sent == []
    # then
    assert sent == [
        (
            "g.things",
            {
                "type": "dashboard.refresh",
                "html": "<tr id='thing-1' data-created='True'></tr>",
                "permission": "things.view",
            },
        )
    ]


@pytest.mark.django_db(transaction=True)
def test_changed_pushes_nothing_for_a_rollback(sent: list) -> None:
    # when
    with pytest.raises(RuntimeError), transaction.atomic():
        live.changed("thing", 1, created=True)
        raise RuntimeError("rolled back")
    # then
    assert sent == []


@pytest.mark.django_db(transaction=True)
def test_batched_sends_one_message_with_each_row_once(sent: list) -> None:
    # when: a worker's batch changes row 1 twice (created, then updated) and row 2 once
    with live.batched():
        for pk, created in ((1, True), (2, False), (1, False)):
            with transaction.atomic():
                live.changed("thing", pk, created=created)
        assert sent == []
    # then: one message, row 1 rendered once and still marked created
    assert len(sent) == 1
    html = sent[0][1]["html"]
    assert html.count("thing-1") == 1
    assert "<tr id='thing-1' data-created='True'>" in html
    assert "<tr id='thing-2' data-created='False'>" in html


def test_changed_refuses_a_kind_nobody_registered() -> None:
    with pytest.raises(LookupError, match="no live renderer registered for 'nothing'"):
        live.changed("nothing", 1, created=True)


@pytest.mark.django_db(transaction=True)
def test_a_failing_renderer_loses_no_other_kind(sent: list) -> None:
    # given
    def broken(changed: dict[int, bool]) -> str:
        raise ValueError("template missing")

    live.register_renderer("broken", render=broken, permission="x.view", group="g.x")
    # when
    with live.batched(), transaction.atomic():
        live.changed("broken", 1, created=True)
        live.changed("thing", 2, created=True)
    # then
    assert [group for group, _ in sent] == ["g.things"]
