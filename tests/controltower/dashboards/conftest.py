from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone


@pytest.fixture
def noon_yesterday() -> datetime:
    """A fixed instant well inside every window (and away from midnight)."""
    day = timezone.localdate() - timedelta(days=1)
    return timezone.make_aware(datetime(day.year, day.month, day.day, 12, 0))
