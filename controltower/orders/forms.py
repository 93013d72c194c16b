from __future__ import annotations

from django import forms

from controltower.catalog.models import Channel
from controltower.orders.choices import OrderStage, OrderState, WaitingOn

# "Nothing" is the empty value of WaitingOn, which a filter reads as "any": it is not offered.
_WAITING_CHOICES = [(value, label) for value, label in WaitingOn.choices if value]


class OrderFilterForm(forms.Form):
    state = forms.ChoiceField(required=False, choices=[("", "Any state"), *OrderState.choices])
    stage = forms.ChoiceField(required=False, choices=[("", "Any stage"), *OrderStage.choices])
    waiting_on = forms.ChoiceField(
        required=False, choices=[("", "Anyone"), *_WAITING_CHOICES], label="Waiting on"
    )
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
        return any(data.get(name) for name in ("state", "stage", "waiting_on", "channel", "q"))


class CancelOrderForm(forms.Form):
    """A person's cancel: the reason goes into the order's history and timeline."""

    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "A reason is required to cancel an order."},
    )
