"""WebRTC signaling helpers — the second seed's ``turnConfig`` action.

TURN (a NAT relay) is needed for about a fifth of connections. Ephemeral credentials are
minted per session by Cloudflare Realtime from two deployment environment variables::

    mainspring env set CLOUDFLARE_TURN_TOKEN_ID <turn key id>
    mainspring env set CLOUDFLARE_TURN_API_TOKEN <api token>

Without them, or when Cloudflare fails, the action falls back to STUN only.
``CLOUDFLARE_TURN_API_BASE`` can point the call elsewhere (a proxy, or a test server).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from mainspring import ActionCtx, action

log = logging.getLogger(__name__)

STUN_ONLY: list[dict[str, Any]] = [{"urls": ["stun:stun.cloudflare.com:3478"]}]
DEFAULT_API_BASE = "https://rtc.live.cloudflare.com/v1"
CREDENTIAL_TTL_S = 86_400


@action
async def turn_config(ctx: ActionCtx) -> dict[str, list[dict[str, Any]]]:
    """``{"iceServers": [...]}`` for an RTCPeerConnection: TURN when configured, else STUN."""
    key_id = ctx.env.get("CLOUDFLARE_TURN_TOKEN_ID")
    api_token = ctx.env.get("CLOUDFLARE_TURN_API_TOKEN")
    if not key_id or not api_token:
        log.info("TURN is not configured; using STUN only")
        return {"iceServers": STUN_ONLY}
    base = ctx.env.get("CLOUDFLARE_TURN_API_BASE", DEFAULT_API_BASE).rstrip("/")
    url = f"{base}/turn/keys/{key_id}/credentials/generate-ice-servers"
    try:
        async with httpx.AsyncClient(timeout=5.0) as http:
            response = await http.post(
                url,
                headers={"Authorization": f"Bearer {api_token}"},
                json={"ttl": CREDENTIAL_TTL_S},
            )
        response.raise_for_status()
        servers = response.json()["iceServers"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        log.warning("TURN credentials unavailable (%s); using STUN only", type(exc).__name__)
        return {"iceServers": STUN_ONLY}
    # The older endpoint answers one object, the newer a list.
    if isinstance(servers, dict):
        servers = [servers]
    return {"iceServers": servers}
