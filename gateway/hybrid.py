"""Hybrid model+human routes (not built yet: see the open issue)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.routes.openai import Call
    from gateway.routing import HybridRoute


class HybridService:
    async def serve(self, call: Call, route: HybridRoute) -> int:
        raise GatewayError(501, "Hybrid routes are not available yet.", type="api_error")
