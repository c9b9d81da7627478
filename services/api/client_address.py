"""Who is on the other end: the peer's address, or, when the peer is one of our own
proxies (`QRT_TRUSTED_PROXIES`: addresses or networks), what it says in
X-Forwarded-For / -Proto / -Host. Forwarded headers from anyone else are ignored: any
client can write them."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def trusted_networks(setting: str) -> tuple[Network, ...]:
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False)
        for part in setting.split(",")
        if part.strip()
    )


def from_trusted_proxy(request: Request, setting: str) -> bool:
    peer = request.client.host if request.client else None
    if not peer or not setting:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in trusted_networks(setting))


def client_address(request: Request, setting: str) -> str:
    """The client's address: the peer's, or the last hop our proxies name."""
    peer = request.client.host if request.client else "unknown"
    if not from_trusted_proxy(request, setting):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):  # the nearest hop that is not one of ours
        try:
            if not any(ipaddress.ip_address(hop) in n for n in trusted_networks(setting)):
                return hop
        except ValueError:
            return peer
    return hops[0] if hops else peer
