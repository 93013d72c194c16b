"""The admins' mappings page forms: one per configuration table, each saying in words what the
database would refuse (a second mapping for a key, an account outside the chart) before it is
asked, and warning about what is allowed but probably a typo (a tax code nothing uses).

Each form also carries the person's reason, which the domain service writes into history.
The database constraints stay the last word: the view turns an ``IntegrityError`` back into
these forms' errors (:meth:`MappingForm.revalidate`).
"""

from __future__ import annotations

from typing import Any

from django import forms

from controltower.catalog.models import SKU, Channel, Location, PaymentMethod
from controltower.finance.choices import PostingEvent
from controltower.finance.models import GLAccount, GLMapping, Invoice, InvoiceLine
from controltower.inventory.models import ChannelAllocationRule, DriftTolerance, StockFreshnessRule
from controltower.orders.models import ChannelStatusMapping, OrderLine, StageSLA
from controltower.pricing.models import PromotionExclusion, PromotionRule

# Which key a posting event is looked up by (finance.services.mapping_for): a key on any other
# event would never match, so the mapping would silently do nothing.
TAX_KEYED = frozenset({PostingEvent.TAX_PAYABLE})
METHOD_KEYED = frozenset({PostingEvent.PAYMENT_CLEARING, PostingEvent.GATEWAY_FEES})


class MappingForm(forms.ModelForm):
    """Shared by the four forms: the reason, the warnings, and re-validation after a conflict."""

    reason = forms.CharField(
        required=False,
        max_length=100,
        help_text="Recorded in history with your name.",
    )
    default_reason = "changed on the mappings page"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.warnings: list[str] = []

    @property
    def change_reason(self) -> str:
        return (self.cleaned_data.get("reason") or "").strip() or self.default_reason

    def validate_unique(self) -> None:
        """Django's own wording for a unique key ("… with this Channel and Channel status
        already exists") only when :meth:`clean` has not already named the conflict."""
        if not self._errors:
            super().validate_unique()

    def validate_constraints(self) -> None:
        if not self._errors:
            super().validate_constraints()

    def revalidate(self) -> None:
        """Validate again after the database refused the save: a row committed meanwhile by
        someone else is now visible to :meth:`clean`, which names it; otherwise say that the
        database refused, without a 500."""
        self._errors = None
        self.full_clean()
        if self.is_valid():
            self.add_error(None, "the database refused this change; reload and try again")


class StatusMappingForm(MappingForm):
    class Meta:
        model = ChannelStatusMapping
        fields = ["channel", "channel_status", "state"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.order_by("code")
        self.fields["channel"].label_from_instance = lambda channel: channel.code

    def clean_channel_status(self) -> str:
        return (self.cleaned_data.get("channel_status") or "").strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        channel, status = data.get("channel"), data.get("channel_status")
        if channel is None or not status:
            return data
        held = (
            ChannelStatusMapping.objects.filter(channel=channel, channel_status=status)
            .exclude(pk=self.instance.pk)
            .first()
        )
        if held is not None:
            self.add_error(
                "channel_status",
                f"{channel.code}'s status '{status}' is already mapped to {held.state}",
            )
        return data


class AccountCodeField(forms.CharField):
    """An account typed by its code, as finance people name them: the row of the chart."""

    def clean(self, value: Any) -> GLAccount | None:
        code = (super().clean(value) or "").strip()
        if not code:
            return None
        account = GLAccount.objects.filter(code=code).first()
        if account is None:
            raise forms.ValidationError(
                f"account {code} does not exist in the chart of accounts", code="unknown_account"
            )
        return account


class GLMappingForm(MappingForm):
    account = AccountCodeField(max_length=32, help_text="The GL account code, e.g. 4000.")

    class Meta:
        model = GLMapping
        fields = ["event", "channel", "tax_code", "payment_method", "account"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        channel = self.fields["channel"]
        channel.queryset = Channel.objects.order_by("code")
        channel.empty_label = "all channels"
        channel.label_from_instance = lambda channel: channel.code
        if self.instance.pk and not self.is_bound:
            self.initial["account"] = self.instance.account.code

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        event = data.get("event")
        tax_code = (data.get("tax_code") or "").strip()
        method = (data.get("payment_method") or "").strip()
        data["tax_code"], data["payment_method"] = tax_code, method
        if event and tax_code and event not in TAX_KEYED:
            self.add_error("tax_code", "a tax code applies only to tax payable mappings")
        if event and method and event not in METHOD_KEYED:
            self.add_error(
                "payment_method",
                "a payment method applies only to payment clearing and gateway fees mappings",
            )
        if event and not self.errors:
            self._refuse_duplicate(event, data.get("channel"), tax_code, method)
        if tax_code and not self._tax_code_used(tax_code):
            self.warnings.append(
                f"tax code {tax_code} is not used by any order or invoice line yet"
            )
        if method and not PaymentMethod.objects.filter(code=method).exists():
            self.warnings.append(f"payment method {method} is not in the payment methods list")
        return data

    def _refuse_duplicate(self, event: str, channel: Channel | None, tax: str, method: str) -> None:
        held = (
            GLMapping.objects.select_related("account", "channel")
            .filter(event=event, channel=channel, tax_code=tax, payment_method=method)
            .exclude(pk=self.instance.pk)
            .first()
        )
        if held is not None:
            self.add_error(None, f"this key is already mapped: {held}")

    @staticmethod
    def _tax_code_used(code: str) -> bool:
        return (
            OrderLine.objects.filter(tax_code=code).exists()
            or InvoiceLine.objects.filter(tax_code=code).exists()
            or Invoice.objects.filter(shipping_tax_code=code).exists()
        )


class PaymentMethodForm(MappingForm):
    class Meta:
        model = PaymentMethod
        fields = ["code", "name", "capture_mode", "enabled"]
        help_texts = {"code": "As the channel sends it (WooCommerce payment_method)."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # Orders and GL mappings name the method by its code: renaming it would leave them
            # pointing at nothing. Add the new code and delete the old one instead.
            self.fields["code"].disabled = True
            self.fields["code"].help_text = "Fixed once created: orders name the method by it."

    def clean_code(self) -> str:
        return (self.cleaned_data.get("code") or "").strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        code = data.get("code")
        if code and PaymentMethod.objects.filter(code=code).exclude(pk=self.instance.pk).exists():
            self.add_error("code", f"payment method {code} already exists")
        return data


class StageSLAForm(MappingForm):
    minutes = forms.IntegerField(
        min_value=1,
        error_messages={"min_value": "minutes must be more than 0"},
        help_text="How long an order may stay in the stage before it counts as stuck.",
    )

    class Meta:
        model = StageSLA
        fields = ["stage", "minutes", "enabled", "description"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        stage = data.get("stage")
        if stage and StageSLA.objects.filter(stage=stage).exclude(pk=self.instance.pk).exists():
            label = StageSLA(stage=stage).get_stage_display()
            self.add_error("stage", f"the stage {label} already has an SLA")
        return data


class AllocationRuleForm(MappingForm):
    class Meta:
        model = ChannelAllocationRule
        fields = ["channel", "location", "percent", "safety_stock", "cap"]
        help_texts = {
            "percent": "Share of the location's stock the channel may sell (0–100).",
            "safety_stock": "Units kept back from the channel at this location.",
            "cap": "At most this many units from this location (empty: no cap).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.order_by("code")
        self.fields["channel"].label_from_instance = lambda channel: channel.code
        self.fields["location"].queryset = Location.objects.order_by("code")
        self.fields["location"].label_from_instance = lambda location: location.code

    def clean_percent(self) -> Any:
        percent = self.cleaned_data.get("percent")
        if percent is not None and not 0 <= percent <= 100:
            raise forms.ValidationError("the percent must be between 0 and 100")
        return percent

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        channel, location = data.get("channel"), data.get("location")
        taken = ChannelAllocationRule.objects.filter(channel=channel, location=location)
        if channel and location and taken.exclude(pk=self.instance.pk).exists():
            self.add_error(
                "location", f"{channel.code} already has a rule for {location.code}: edit that one"
            )
        return data


class FreshnessRuleForm(MappingForm):
    max_age_minutes = forms.IntegerField(
        min_value=1,
        error_messages={"min_value": "minutes must be more than 0"},
        help_text="How old the newest figure may be before ops hear of it.",
    )

    class Meta:
        model = StockFreshnessRule
        fields = ["reporting_system", "location", "max_age_minutes"]
        help_texts = {"location": "Empty: the system's default for every location."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reporting_system"].choices = [
            (value, label)
            for value, label in self.fields["reporting_system"].choices
            if value != "storefront"
        ]
        self.fields["location"].queryset = Location.objects.order_by("code")
        self.fields["location"].label_from_instance = lambda location: location.code

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        system, location = data.get("reporting_system"), data.get("location")
        taken = StockFreshnessRule.objects.filter(reporting_system=system, location=location)
        if system and taken.exclude(pk=self.instance.pk).exists():
            where = location.code if location else "every location"
            self.add_error("location", f"{system} already has an SLA for {where}: edit that one")
        return data


class DriftToleranceForm(MappingForm):
    class Meta:
        model = DriftTolerance
        fields = ["location", "units", "percent"]
        help_texts = {
            "location": "Empty: the default for every location.",
            "units": "Figures may differ by this many units…",
            "percent": "… or by this percent of the highest figure, whichever is larger.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = Location.objects.order_by("code")
        self.fields["location"].label_from_instance = lambda location: location.code

    def clean_percent(self) -> Any:
        percent = self.cleaned_data.get("percent")
        if percent is not None and not 0 <= percent <= 100:
            raise forms.ValidationError("the percent must be between 0 and 100")
        return percent

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        location = data.get("location")
        taken = DriftTolerance.objects.filter(location=location).exclude(pk=self.instance.pk)
        if "location" in data and taken.exists():
            where = location.code if location else "every location (the default)"
            self.add_error("location", f"{where} already has a tolerance: edit that one")
        return data


class PromotionRuleForm(MappingForm):
    class Meta:
        model = PromotionRule
        fields = ["channel", "category", "max_discount_percent", "starts_at", "ends_at", "note"]
        help_texts = {
            "channel": "Empty: every channel.",
            "category": "A product category as the storefront names it; empty: every category.",
            "max_discount_percent": "The largest discount off the ERP base price (0–100).",
            "starts_at": "Promotions allowed from (YYYY-MM-DD HH:MM, UTC); empty: always were.",
            "ends_at": "Promotions allowed until; empty: no end.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.order_by("code")
        self.fields["channel"].label_from_instance = lambda channel: channel.code

    def clean_category(self) -> str:
        return (self.cleaned_data.get("category") or "").strip()

    def clean_max_discount_percent(self) -> Any:
        percent = self.cleaned_data.get("max_discount_percent")
        if percent is not None and not 0 <= percent <= 100:
            raise forms.ValidationError("the discount must be between 0 and 100%")
        return percent

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", "the window must end after it starts")
        channel, category = data.get("channel"), data.get("category", "")
        taken = PromotionRule.objects.filter(channel=channel, category=category)
        if "category" in data and taken.exclude(pk=self.instance.pk).exists():
            where = channel.code if channel else "every channel"
            self.add_error(
                "category",
                f"{where} already has a rule for {category or 'every category'}: edit that one",
            )
        return data


class PromotionExclusionForm(MappingForm):
    sku_code = forms.CharField(
        label="SKU", max_length=64, help_text="The SKU code, as the catalog holds it."
    )

    class Meta:
        model = PromotionExclusion
        fields = ["channel", "note"]
        help_texts = {"channel": "Empty: every channel."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.order_by("code")
        self.fields["channel"].label_from_instance = lambda channel: channel.code
        if self.instance.pk:
            self.fields["sku_code"].initial = self.instance.sku.code
        self.order_fields(["sku_code", "channel", "note"])

    def clean_sku_code(self) -> str:
        code = (self.cleaned_data.get("sku_code") or "").strip()
        sku = SKU.objects.filter(code=code).first()
        if sku is None:
            raise forms.ValidationError(f"no SKU {code!r} in the catalog")
        self.instance.sku = sku
        return code

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        channel = data.get("channel")
        if "sku_code" in data:
            taken = PromotionExclusion.objects.filter(sku=self.instance.sku, channel=channel)
            if taken.exclude(pk=self.instance.pk).exists():
                where = channel.code if channel else "every channel"
                self.add_error("sku_code", f"{data['sku_code']} is already excluded on {where}")
        return data


class DeleteForm(forms.Form):
    reason = forms.CharField(required=False, max_length=100)

    @property
    def change_reason(self) -> str:
        return (self.cleaned_data.get("reason") or "").strip() or "deleted on the mappings page"
