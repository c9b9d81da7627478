"""Case ids as people type them: the first characters that the pages and the printed
shift plan show (8), or any unique start of at least `MIN_PREFIX` characters."""

from __future__ import annotations

import re

from sqlalchemy import Connection, func, select

from services.store.tables import cases

MIN_PREFIX = 6
_ID_CHARACTERS = re.compile(r"^[0-9a-f-]+$")  # case ids are UUIDs


class CaseIdError(ValueError):
    """A typed case id names no case, or more than one."""


def resolve_case_id(conn: Connection, typed: str) -> str:
    """The one case whose id is `typed` or starts with it; else CaseIdError saying why."""
    text = typed.strip().lower()
    if not _ID_CHARACTERS.match(text):
        raise CaseIdError(f"no case {typed!r}")
    if conn.execute(select(cases.c.id).where(cases.c.id == text)).first() is not None:
        return text
    if len(text) < MIN_PREFIX:
        raise CaseIdError(
            f"no case {typed!r}; give the case id or at least its first {MIN_PREFIX} characters"
        )
    starts = cases.c.id.startswith(text, autoescape=True)
    found = conn.execute(select(cases.c.id).where(starts).limit(2)).scalars().all()
    if not found:
        raise CaseIdError(f"no case id starts with {typed!r}")
    if len(found) > 1:
        count = conn.execute(select(func.count()).select_from(cases).where(starts)).scalar_one()
        raise CaseIdError(f"{count} cases have ids starting with {typed!r}; give more characters")
    return str(found[0])
