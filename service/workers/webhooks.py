"""Webhook delivery: one arq job per (event, URL), signed per Standard Webhooks, retried with backoff.

The body is the event's CloudEvent in structured JSON mode (``application/cloudevents+json``).
Headers ``webhook-id`` (the event id, the same on every retry: receivers dedupe on it),
``webhook-timestamp`` (seconds, fresh per try: receivers refuse old ones, which stops replays)
and ``webhook-signature`` (``service.domain.webhooks``). 2xx is delivered; 408, 425, 429, 5xx
and network errors are retried after ``webhook_retry_delay × 2^(try-1)`` seconds up to
``webhook_max_tries``; any other answer is final (retrying would not change it)."""

import hashlib
import json
import logging
import time
from typing import Any

import httpx
from arq import Retry

from service.domain.jobs import DELIVER_WEBHOOK
from service.domain.webhooks import sign

log = logging.getLogger("depot.webhooks")
RETRY_STATUS = {408, 425, 429}


def job_id(event_id: str, url: str) -> str:
    return f"webhook:{event_id}:{hashlib.sha256(url.encode()).hexdigest()[:16]}"


def urls(setting: str) -> list[str]:
    return [u.strip() for u in setting.split(",") if u.strip()]


async def queue(ctx: dict[str, Any], event_id: str) -> int:
    """Queue one delivery job per configured URL."""
    clients = ctx["clients"]
    targets = urls(clients.settings.webhook_urls)
    for url in targets:
        await clients.queue.enqueue(DELIVER_WEBHOOK, event_id, url, job_id=job_id(event_id, url))
    return len(targets)


async def deliver(ctx: dict[str, Any], event_id: str, url: str) -> str:
    clients = ctx["clients"]
    settings = clients.settings
    event = await clients.events.get(event_id)
    if event is None:
        log.warning("webhook %s: event %s no longer in the stream; dropped", url, event_id)
        return "dropped"
    body = json.dumps(event, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {"Content-Type": "application/cloudevents+json", "webhook-id": event_id,
               "webhook-timestamp": str(timestamp), "User-Agent": "depot-webhooks"}
    if clients.webhook_keys:
        headers["webhook-signature"] = sign(clients.webhook_keys, event_id, timestamp, body)
    job_try = int(ctx.get("job_try", 1))
    try:
        response = await clients.webhook_http.post(url, content=body, headers=headers,
                                                   timeout=settings.webhook_timeout)
        problem = None if response.is_success else f"HTTP {response.status_code}"
        retryable = response.status_code >= 500 or response.status_code in RETRY_STATUS
    except httpx.HTTPError as exc:
        problem, retryable = f"{type(exc).__name__}: {exc}", True
    if problem is None:
        return "delivered"
    if retryable and job_try < settings.webhook_max_tries:
        delay = settings.webhook_retry_delay * 2 ** (job_try - 1)
        log.warning("webhook %s for %s failed (%s), try %d; retrying in %.1fs", url, event_id, problem, job_try, delay)
        raise Retry(defer=delay)
    log.error("webhook %s for %s failed for good after %d tries: %s", url, event_id, job_try, problem)
    return f"failed: {problem}"
