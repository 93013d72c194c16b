from __future__ import annotations

from controltower.core.admin_helpers import register_canonical
from controltower.exceptions.models import OpsException

register_canonical(
    OpsException,
    list_display=("title", "type", "severity", "state", "money_at_risk_amount", "opened_at"),
)
