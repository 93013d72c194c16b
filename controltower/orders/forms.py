from __future__ import annotations

from django import forms

from controltower.catalog.models import Channel
from controltower.orders.choices import OrderState


class OrderFilterForm(forms.Form):
    state = forms.ChoiceField(required=False, choices=[("", "Any stage"), *OrderState.choices])
    channel = forms.SlugField(required=False)
    q = forms.CharField(required=False, max_length=100, label="Search")
    page = forms.IntegerField(required=False, min_value=1)

    def clean_channel(self) -> str:
        code = self.cleaned_data.get("channel") or ""
        if code and not Channel.objects.filter(code=code).exists():
            raise forms.ValidationError(f"No channel with code “{code}”.")
        return code

    @property
    def is_filtered(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return any(data.get(name) for name in ("state", "channel", "q"))
