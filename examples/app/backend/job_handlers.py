"""The seed's job handlers: plain async functions the ``jobs:execute`` action routes to.

``handle_send_email`` posts to an HTTP email provider (Resend's API shape) whose URL and key
are deployment environment variables, never code::

    mainspring env set EMAIL_API_URL https://api.resend.com/emails
    mainspring env set EMAIL_API_KEY re_...

``handle_process_image`` resizes an uploaded image through ``images:process_image``.
"""

from __future__ import annotations

from typing import Any

import httpx

from mainspring import ActionCtx, AppError, api

EMAIL_URL_VARIABLE = "EMAIL_API_URL"
EMAIL_KEY_VARIABLE = "EMAIL_API_KEY"
SENDER = "noreply@example.com"


async def handle_send_email(ctx: ActionCtx, payload: dict[str, Any]) -> Any:
    """Send ``{"to", "subject", "body"}``; returns the provider's JSON answer."""
    url, key = ctx.env.get(EMAIL_URL_VARIABLE), ctx.env.get(EMAIL_KEY_VARIABLE)
    if not url or not key:
        raise AppError(f"{EMAIL_URL_VARIABLE} and {EMAIL_KEY_VARIABLE} must be set")
    async with httpx.AsyncClient(timeout=30.0) as http:
        response = await http.post(
            url,
            headers={"Authorization": f"Bearer {key}"},
            json={
                "from": SENDER,
                "to": payload["to"],
                "subject": payload["subject"],
                "html": payload["body"],
            },
        )
    if response.status_code >= 300:
        raise AppError(f"Email send failed: {response.status_code} {response.reason_phrase}")
    return response.json()


async def handle_process_image(ctx: ActionCtx, payload: dict[str, Any]) -> Any:
    """Resize the image of ``{"file_id"}``; returns the processed file's storage id."""
    storage_id = await ctx.run_action(api.images.process_image, {"file_id": payload["file_id"]})
    return {"processed": True, "storage_id": storage_id}
