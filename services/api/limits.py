"""Where the rate limits meet the requests: sign-ins (per source address and per
account, before any password is hashed) and gateway calls (per agency key and per
source address). A refusal is 429 with Retry-After (services/accounts/rate_limits.py)."""

from __future__ import annotations

import asyncio
import hashlib

from fastapi import Request

from services.accounts.rate_limits import Lease, Rate, Taken, take
from services.api.client_address import client_address
from services.bootstrap import Context


def _sign_in_rate(ctx: Context) -> Rate:
    per_minute = ctx.settings.sign_in_rate_per_minute
    return Rate(per_minute=per_minute, burst=per_minute)


def sign_in_allowed(ctx: Context, request: Request, username: str) -> Taken:
    """One sign-in try of `username` from this request's address, or how long to wait."""
    now, rate = ctx.clock(), _sign_in_rate(ctx)
    address = client_address(request, ctx.settings.trusted_proxies)
    by_address = take(ctx.store, f"signin:addr:{address}", rate, now)
    if by_address.refused:
        return by_address
    account = hashlib.sha256(username.encode("utf-8", "replace")).hexdigest()[:16]
    return take(ctx.store, f"signin:user:{account}", rate, now)


async def gateway_allowed(request: Request, ctx: Context, key: str | None) -> Taken:
    state = request.app.state
    lease: Lease | None = getattr(state, "gateway_lease", None)
    if lease is None:
        per_minute = ctx.settings.gateway_rate_per_minute
        lease = Lease(ctx.store, Rate(per_minute=per_minute, burst=per_minute))
        state.gateway_lease = lease
    now = ctx.clock()
    address = client_address(request, ctx.settings.trusted_proxies)
    hashed = hashlib.sha256((key or "").encode()).hexdigest()[:16]
    for bucket in (f"gateway:key:{hashed}", f"gateway:addr:{address}"):
        if lease.from_memory(bucket):  # the usual case: no thread, no store
            continue
        taken = await asyncio.to_thread(lease.allow, bucket, now)
        if taken.refused:
            return taken
    return Taken(1.0, 0.0)
