"""No-op tasks for Celery and RQ in ``workpool_throughput.py``. Each notes, in one Redis round
trip, when the first task started and how many have finished, so the rate excludes the
workers' start-up (the same as Mainspring's and the PostgreSQL peers' pre-started workers)."""

from __future__ import annotations

import time

import redis
from celery import Celery

REDIS_URL = "redis://127.0.0.1:6379/15"

celery_app = Celery("bench", broker=REDIS_URL)
celery_app.conf.update(task_ignore_result=True, worker_hijack_root_logger=False)
_client: redis.Redis | None = None


def _note() -> None:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(REDIS_URL)
    now = time.time()
    pipe = _client.pipeline(transaction=False)
    pipe.setnx("bench:first", now)
    pipe.incr("bench:done")
    pipe.set("bench:last", now)
    pipe.execute()


@celery_app.task(name="noop")
def celery_noop(i: int) -> None:
    """A no-op Celery task."""
    _note()


def rq_noop(i: int) -> None:
    """A no-op RQ job."""
    _note()
