from __future__ import annotations

import time
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import DenyConnection
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth import get_user_model

from controltower.dashboards.publish import OPS_GROUP

PERMISSION_TTL_S = 30.0


class DashboardConsumer(AsyncWebsocketConsumer):
    """Live updates for the ops pages: joins ``dashboard.ops`` when the user may see orders."""

    groups_joined: list[str]

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            raise DenyConnection
        if not await self._may("orders.view_order", refresh=True):
            raise DenyConnection
        self.groups_joined = [OPS_GROUP]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def dashboard_refresh(self, event: dict[str, Any]) -> None:
        if await self._may(event["permission"]):
            await self.send(text_data=event["html"])

    async def _may(self, permission: str, *, refresh: bool = False) -> bool:
        """Re-check the permission per event, reloading the user's roles every 30 s."""
        now = time.monotonic()
        if refresh or now - getattr(self, "_perms_at", 0.0) > PERMISSION_TTL_S:
            self._perms = await self._load_permissions()
            self._perms_at = now
        return permission in self._perms

    @database_sync_to_async
    def _load_permissions(self) -> frozenset[str]:
        user = get_user_model().objects.filter(pk=self.scope["user"].pk, is_active=True).first()
        return frozenset(user.get_all_permissions()) if user is not None else frozenset()
