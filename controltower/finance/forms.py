from __future__ import annotations

import re
from datetime import date

from django import forms

from controltower.finance.choices import JournalState
from controltower.finance.models import FiscalPeriod, GLAccount

MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: FiscalPeriod) -> str:
        return f"{obj.starts_on:%Y-%m-%d} – {obj.ends_on:%Y-%m-%d} ({obj.get_status_display()})"


class JournalFilterForm(forms.Form):
    """The journal page's GET filters; an invalid value is a 400 that names it."""

    period = PeriodChoiceField(
        queryset=FiscalPeriod.objects.all(),
        required=False,
        empty_label="Any period",
        error_messages={"invalid_choice": "No such fiscal period."},
    )
    month = forms.CharField(
        required=False, max_length=7, label="Month", help_text="YYYY-MM, e.g. 2026-11"
    )
    state = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *JournalState.choices], label="Status"
    )
    account = forms.CharField(required=False, max_length=32, label="Account")
    page = forms.IntegerField(required=False, min_value=1)

    def clean_month(self) -> date | None:
        value = (self.cleaned_data.get("month") or "").strip()
        if not value:
            return None
        match = MONTH.match(value)
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise forms.ValidationError(f"“{value}” is not a month; write it as YYYY-MM.")
        return date(int(match.group(1)), int(match.group(2)), 1)

    def clean_account(self) -> GLAccount | None:
        code = (self.cleaned_data.get("account") or "").strip()
        if not code:
            return None
        account = GLAccount.objects.filter(code=code).first()
        if account is None:
            raise forms.ValidationError(f"No GL account with code “{code}”.")
        return account

    @property
    def is_filtered(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return any(data.get(name) for name in ("period", "month", "state", "account"))
