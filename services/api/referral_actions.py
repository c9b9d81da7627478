"""What the referral API and the staff form both do with a referral: screen it as the
intake worker will (422 with the reason), answer a repeat as a duplicate, keep it in the
gateway's inbox on the embedded default, publish it to `referral.v1` with acks=all (503
when the broker did not acknowledge: nothing accepted), then audit its receipt. Routes
(referral_routes.py) and pages (web/referral_pages.py) import from here."""

from __future__ import annotations

import asyncio
import logging

from fastapi import HTTPException, Request

from schemas.intake import RejectedEvent, RejectReason
from schemas.referral_event import ReferralAccepted, ReferralBody, ReferralEvent
from services.bootstrap import Context, Gateway
from services.ingest import gateway, inbox
from services.ingest.gateway_publisher import BrokerErrors
from services.ingest.referral_intake import Sender, record_received, referral_of, screened
from services.runtime.retry import describe
from services.runtime.run_files import NoBrokerConfigured

log = logging.getLogger(__name__)
ORIGIN = gateway.GATEWAY_ORIGIN


def _unavailable(what: str) -> HTTPException:
    return HTTPException(
        status_code=503,
        detail=f"{what}: nothing was accepted; send the same referral again later (one "
        "that did arrive is recognised as a duplicate)",
        headers={"Retry-After": "5"},
    )


def refused(rejected: RejectedEvent) -> HTTPException:
    status = 413 if rejected.reason is RejectReason.OVERSIZE else 422
    errors = [e.model_dump() for e in rejected.errors]
    return HTTPException(
        status_code=status,
        detail={"reason": rejected.reason.value, "detail": rejected.detail, "errors": errors},
    )


async def accept_referral(
    request: Request, ctx: Context, program_id: str, body: ReferralBody, sender: Sender
) -> ReferralAccepted:
    """The referral published (or recognised as a repeat); raises the HTTP refusal."""
    now = ctx.clock()
    raw = referral_of(body, program_id, sender, now)
    found = screened(raw, ORIGIN, ctx.programs, ctx.rules, now)
    if isinstance(found, RejectedEvent):
        raise refused(found)
    parts: Gateway = request.app.state.gateway
    key = gateway.key_of(found)
    stored = await asyncio.to_thread(gateway.in_store, ctx.store, [found])
    if key in stored or key in parts.recent:
        return ReferralAccepted(referral_id=found.referral_id, duplicate=True)
    await _publish(ctx, parts, found)
    parts.recent.add([key])
    await asyncio.to_thread(record_received, ctx.store, found, sender, ctx.clock())
    return ReferralAccepted(referral_id=found.referral_id)


async def _publish(ctx: Context, parts: Gateway, referral: ReferralEvent) -> None:
    if ctx.settings.gateway_inbox:
        try:
            await asyncio.to_thread(inbox.keep, ctx.store, ctx.cipher, [referral], ctx.clock())
        except Exception as exc:
            log.warning("referral: the inbox could not keep it (%s)", describe(exc))
            raise _unavailable("the referral could not be kept") from None
    try:
        publisher = parts.publisher()
        await publisher.publish([referral], timeout_s=ctx.settings.gateway_ack_seconds)
    except (*BrokerErrors, NoBrokerConfigured) as exc:
        log.warning("referral: the broker did not acknowledge (%s)", type(exc).__name__)
        raise _unavailable("the broker did not acknowledge the referral") from None
