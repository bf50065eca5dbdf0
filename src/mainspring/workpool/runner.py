"""Running one claimed work item, and recording outcomes a batch at a time.

A **mutation** item runs in a transaction that first checks the item is still ours and ends
by recording its success and running ``on_complete`` — exactly once. Conflicts retry it inside
:meth:`Runtime.transact`; other transient faults (the database failing) retry it here with
backoff and finally give it back to ``pending``, whatever the retry policy says. An error
raised by the user's code rolls it back and finishes the item ``failed``.

An **action** item was marked running when it was claimed; it runs, and its outcome goes to
the dispatcher's :class:`~mainspring.scheduling.outcomes.Completer` (shared with the
scheduler), whose store retries it per the item's policy or finishes it. Work runs with
no identity.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..auth import Auth
from ..errors import ConflictError, DatabaseError, FunctionNotFoundError
from ..logs import capture_logs
from ..scheduling.jobs import error_text
from ..scheduling.outcomes import Completer
from .claims import ItemStore, Outcome
from .items import failed, success
from .policy import retryable

if TYPE_CHECKING:
    from ..db.store import DocumentWriter
    from ..functions import FunctionDefinition
    from ..runtime import Runtime

__all__ = ["ItemRunner"]

log = logging.getLogger("mainspring.workpool")

#: Transient failures of a mutation item retried in-process before it is given back.
TRANSIENT_RETRIES = 6


class ItemRunner:
    """Runs claimed items for one dispatcher."""

    def __init__(self, runtime: Runtime, store: ItemStore, completer: Completer[Outcome]) -> None:
        self.runtime = runtime
        self.store = store
        self.completer = completer

    async def run(self, row: dict[str, Any]) -> None:
        """Run an item this dispatcher claimed, and record how it ended."""
        item_id, name = row["_id"], row["name"]
        try:
            definition = self.runtime.registry.resolve(name)
        except FunctionNotFoundError:
            await self.completer.finish(item_id, Outcome(failed(f"no function {name} in this app")))
            return
        await self.runtime.env.refresh_if_stale()
        if definition.kind == "mutation":
            await self._mutation(item_id, definition, row["args"])
        else:
            await self._action(item_id, definition, row["args"])

    async def _mutation(self, item_id: str, definition: FunctionDefinition, args: Any) -> None:
        from ..context import MutationCtx

        runtime = self.runtime

        async def body(writer: DocumentWriter) -> Any:
            checked = runtime.validate_args(definition, args)
            value = await definition.handler(MutationCtx(runtime, writer, Auth()), **checked)
            return runtime._check_return(definition, value)

        delay = 0.05
        for attempt in range(1, TRANSIENT_RETRIES + 1):
            try:
                with capture_logs(definition.label):
                    await self.store.run_mutation(item_id, body)
                return
            except (ConflictError, DatabaseError) as exc:
                if attempt == TRANSIENT_RETRIES:
                    log.warning(
                        "%s: giving work item %s back after: %s", definition.label, item_id, exc
                    )
                    try:
                        await self.store.release([item_id])
                    except Exception as again:  # its lease expires and a reaper gives it back
                        log.warning("could not release %s: %s", item_id, again)
                    return
                log.info("%s: transient failure, retrying: %s", definition.label, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 4, 5.0)
            except Exception as exc:
                log.info("%s (work item %s) failed: %s", definition.label, item_id, exc)
                await self.completer.finish(item_id, Outcome(failed(error_text(exc))))
                return

    async def _action(self, item_id: str, definition: FunctionDefinition, args: Any) -> None:
        try:
            value = await self.runtime.call(definition, args, auth=Auth())
            outcome = Outcome(success(value))
        except Exception as exc:
            log.info("%s (work item %s) failed: %s", definition.label, item_id, exc)
            outcome = Outcome(failed(error_text(exc)), retryable=retryable(exc))
        await self.completer.finish(item_id, outcome)
