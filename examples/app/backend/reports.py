"""The daily report: counted at midnight UTC, stored, and posted to a Lark chat.

The "daily report" cron (``crons.py``) runs :func:`generate_daily`. Like every cron it runs
with no user identity (``ctx.auth.get_user_identity()`` is None; the report records that in
``ran_as``), so the Lark credential is a deployment environment variable — the second seed's
"env var for credentials"::

    mainspring env set LARK_TOKEN <tenant access token>
    mainspring env set LARK_CHAT_ID <chat id the report goes to>

Without ``LARK_TOKEN`` the report is only stored. ``LARK_API_BASE`` points the call elsewhere
(Feishu's ``https://open.feishu.cn/open-apis``, a proxy, or a test server). A failed post
fails the run (``mainspring crons ls`` shows why); the stored report stays, ``posted`` False.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import httpx

from mainspring import (
    ActionCtx,
    Id,
    MutationCtx,
    QueryCtx,
    internal,
    internal_action,
    internal_mutation,
    internal_query,
    query,
)

from .schema import DailyReports

log = logging.getLogger(__name__)

DAY_MS = 24 * 60 * 60 * 1000
DEFAULT_LARK_API_BASE = "https://open.larksuite.com/open-apis"
TIMEOUT_S = 10.0


class LarkError(RuntimeError):
    """Lark refused or did not take the message."""


async def _created_since(ctx: QueryCtx, table: str, since: float) -> int:
    """How many documents of ``table`` were created at or after ``since``."""
    count = 0
    # Newest first through the creation order: stop at the first older one.
    async for document in ctx.db.query(table).order("desc"):
        if document["_creationTime"] < since:
            break
        count += 1
    return count


@internal_query
async def daily_counts(ctx: QueryCtx, since: float) -> dict[str, int]:
    """Notes, files and orders created since ``since``."""
    return {
        "notes": await _created_since(ctx, "notes", since),
        "files": await _created_since(ctx, "files", since),
        "orders": await _created_since(ctx, "orders", since),
    }


@internal_mutation
async def save(ctx: MutationCtx, report: dict[str, Any]) -> Id[DailyReports]:
    """Store a report (replacing an earlier one of the same day, e.g. from a manual run)."""
    earlier = (
        await ctx.db.query("daily_reports")
        .with_index("by_day", lambda q: q.eq("day", report["day"]))
        .unique()
    )
    if earlier is not None:
        await ctx.db.delete(earlier["_id"])
    return await ctx.db.insert("daily_reports", report)


@internal_mutation
async def mark_posted(ctx: MutationCtx, report_id: Id[DailyReports]) -> None:
    """Note that the report reached Lark."""
    await ctx.db.patch(report_id, {"posted": True})


def _message(report: dict[str, Any]) -> str:
    """The report as the text of a chat message."""
    return (
        f"Daily report for {report['day']} (UTC): {report['notes']} notes, "
        f"{report['files']} files, {report['orders']} orders."
    )


async def _post_to_lark(ctx: ActionCtx, token: str, text: str) -> None:
    """Send ``text`` to the ``LARK_CHAT_ID`` chat with Lark's send-message API."""
    chat_id = ctx.env.get("LARK_CHAT_ID")
    if not chat_id:
        raise LarkError("LARK_TOKEN is set but LARK_CHAT_ID is not: where should it go?")
    base = ctx.env.get("LARK_API_BASE", DEFAULT_LARK_API_BASE).rstrip("/")
    url = f"{base}/im/v1/messages"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as http:
            response = await http.post(
                url,
                params={"receive_id_type": "chat_id"},
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "receive_id": chat_id,
                    "msg_type": "text",
                    "content": json.dumps({"text": text}),
                },
            )
        response.raise_for_status()
        answer = response.json()
    except httpx.HTTPStatusError as exc:
        raise LarkError(f"POST {url} answered HTTP {exc.response.status_code}") from None
    except httpx.HTTPError as exc:
        raise LarkError(f"POST {url} failed: {type(exc).__name__}: {exc}") from None
    except ValueError:
        raise LarkError(f"POST {url} did not return JSON") from None
    # Lark reports most errors (a bad token, an unknown chat) as HTTP 200 with a code.
    if not isinstance(answer, dict) or answer.get("code") != 0:
        detail = answer.get("msg") if isinstance(answer, dict) else answer
        raise LarkError(f"Lark refused the message: {detail}")


@internal_action
async def generate_daily(ctx: ActionCtx) -> Id[DailyReports]:
    """Count the last 24 hours, store the report and post it to Lark; the report's id."""
    # ❌ Never authorize a cron by identity: there is none. Shown here, and recorded.
    identity = await ctx.auth.get_user_identity()
    until = ctx.now_ms()
    since = until - DAY_MS
    counts = await ctx.run_query(internal.reports.daily_counts, {"since": since})
    report: dict[str, Any] = {
        "day": datetime.fromtimestamp(since / 1000, UTC).date().isoformat(),
        "since": since,
        "until": until,
        **counts,
        "generated_at": until,
        "posted": False,
        "ran_as": None if identity is None else identity.subject,
    }
    report_id: Id[DailyReports] = await ctx.run_mutation(internal.reports.save, {"report": report})
    # ✅ The credential is a deployment environment variable.
    token = ctx.env.get("LARK_TOKEN")
    if not token:
        log.info("LARK_TOKEN is not set: the daily report is stored, not posted")
        return report_id
    await _post_to_lark(ctx, token, _message(report))
    await ctx.run_mutation(internal.reports.mark_posted, {"report_id": report_id})
    return report_id


@query
async def latest(ctx: QueryCtx, limit: int = 7) -> list[dict[str, Any]]:
    """The latest ``limit`` daily reports, newest first."""
    return await ctx.db.query("daily_reports").with_index("by_day").order("desc").take(limit)
