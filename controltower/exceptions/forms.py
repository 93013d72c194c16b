from __future__ import annotations

from django import forms

from controltower.exceptions.choices import ExceptionState, ExceptionType


class ExceptionFilterForm(forms.Form):
    state = forms.ChoiceField(
        required=False,
        choices=[("", "Open and assigned"), ("all", "All"), *ExceptionState.choices],
    )
    type = forms.ChoiceField(required=False, choices=[("", "Any type"), *ExceptionType.choices])
    page = forms.IntegerField(required=False, min_value=1)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "A reason is required."},
    )
