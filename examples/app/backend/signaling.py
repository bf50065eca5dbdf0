"""WebRTC signaling helpers — the second seed's ``turnConfig`` action.

TURN (a NAT relay) is needed for about a fifth of connections. Ephemeral credentials are
minted per session by Cloudflare Realtime from two deployment environment variables::

    mainspring env set CLOUDFLARE_TURN_TOKEN_ID <turn key id>
    mainspring env set CLOUDFLARE_TURN_API_TOKEN <api token>

Without them, or when Cloudflare fails, the action falls back to STUN only.
``CLOUDFLARE_TURN_API_BASE`` can point the call elsewhere (a proxy, or a test server).

Peers exchange offers, answers and ICE candidates through ``send`` and ``messages``. A
message lives an hour; the "purge expired signaling" cron (``crons.py``) deletes the expired
ones every hour with ``purge_expired``, and ``messages`` hides them meanwhile.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import httpx

from mainspring import (
    ActionCtx,
    Id,
    MutationCtx,
    QueryCtx,
    action,
    internal,
    internal_mutation,
    mutation,
    query,
)

from .schema import SignalingMessages

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


#: A signaling message's time to live (the second seed's "1h TTL").
MESSAGE_TTL_MS = 60 * 60 * 1000
#: Deleted per ``purge_expired`` run: one transaction stays small; the rest go in the next.
PURGE_BATCH = 500


@mutation
async def send(
    ctx: MutationCtx,
    room: str,
    sender: str,
    kind: Literal["offer", "answer", "candidate"],
    payload: Any,
) -> Id[SignalingMessages]:
    """Post a signaling message to ``room``; it expires in an hour."""
    return await ctx.db.insert(
        "signaling_messages",
        {
            "room": room,
            "sender": sender,
            "kind": kind,
            "payload": payload,
            "expires_at": ctx.now_ms() + MESSAGE_TTL_MS,
        },
    )


@query
async def messages(ctx: QueryCtx, room: str) -> list[dict[str, Any]]:
    """The room's unexpired messages, oldest first: hidden once expired, purged or not."""
    now = ctx.now_ms()
    return await (
        ctx.db.query("signaling_messages")
        .with_index("by_room", lambda q: q.eq("room", room).gt("expires_at", now))
        .collect()
    )


@internal_mutation
async def purge_expired(ctx: MutationCtx) -> int:
    """Delete up to :data:`PURGE_BATCH` expired messages, scheduling another run at once
    if more are left; how many this run deleted."""
    now = ctx.now_ms()
    expired = await (
        ctx.db.query("signaling_messages")
        .with_index("by_expires_at", lambda q: q.lt("expires_at", now))
        .take(PURGE_BATCH)
    )
    for message in expired:
        await ctx.db.delete(message["_id"])
    if len(expired) == PURGE_BATCH:
        await ctx.scheduler.run_after(0, internal.signaling.purge_expired)
    print(f"Purged {len(expired)} expired signaling messages")
    return len(expired)
