"""Who a user id is, and the other way round: the reads every output of the queue needs
(owners' names), without the accounts' rules."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from services.store.tables import users


def usernames(conn: Connection, user_ids: Sequence[str]) -> dict[str, str]:
    ids = sorted({u for u in user_ids if u})
    if not ids:
        return {}
    rows = conn.execute(select(users.c.id, users.c.username).where(users.c.id.in_(ids)))
    return {r.id: r.username for r in rows}


def user_id_of(conn: Connection, username: str) -> str | None:
    row = conn.execute(
        select(users.c.id).where(users.c.username == username, users.c.disabled_at.is_(None))
    ).first()
    return None if row is None else str(row.id)
