from __future__ import annotations

import json
from typing import Any

from django import forms


class RetryForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "A reason is required."},
    )


class ReplayForm(RetryForm):
    payload = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 16, "class": "code", "spellcheck": "false"}),
        help_text="Edit to replay a corrected payload; leave as it is to replay it unchanged.",
    )

    def __init__(self, *args: Any, original: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.original = original

    def clean_payload(self) -> Any:
        text = self.cleaned_data.get("payload", "").strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"The payload is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("The payload must be a JSON object.")
        return None if value == self.original else value
