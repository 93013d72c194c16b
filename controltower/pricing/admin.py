"""The promotion policy and the price pushes in /admin/ (the policy is edited on the mappings
page, through the services; pushes are read-only records of an ops action)."""

from __future__ import annotations

from controltower.core.admin_helpers import register_canonical
from controltower.pricing.models import PricePush, PromotionExclusion, PromotionRule

register_canonical(PromotionRule, PromotionExclusion, PricePush)
