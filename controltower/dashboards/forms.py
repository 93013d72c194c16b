from __future__ import annotations

from django import forms

from controltower.dashboards.kpis import DEFAULT_WINDOW, WINDOWS


class WindowForm(forms.Form):
    """The KPI page's window selector (a GET form: bad input is a 400 with this text)."""

    days = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=DEFAULT_WINDOW,
        choices=[(str(n), f"Last {n} days") for n in WINDOWS],
        label="Window",
        error_messages={"invalid_choice": "Choose a window of 7, 14 or 30 days."},
    )
