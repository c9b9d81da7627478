"""Removing the personal data of a batch of subjects (persons, cases without a person),
inside the caller's transaction; or, for a dry run, counting what would go.

Every statement touches only what is still there (a sealed value not yet emptied, a
token not yet replaced), so its row count is what this run removed, and a second run
over the same subjects changes nothing. Kept: every row the reports count (cases,
events, attempts, texts, consents, reviews, treatment referrals), with their ids, times,
states, kinds and codes. Emptied: the NOT NULL sealed columns become "" (the marker
readers take for "removed"), the others NULL. A phone token of the batch is replaced in
the rows it keeps by one random stand-in (`purged.<random>`) per phone: the rows of
one phone still count as one, and nothing leads back to the number. The consents of a
phone are re-keyed only when no one else in the program uses that phone; when someone
does, they keep the token and lose the batch's person and case ids."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, and_, case, delete, func, or_, select, tuple_, update

from services.store.tables import (
    attempts,
    case_contacts,
    events,
    gateway_inbox,
    match_reviews,
    person_addresses,
    person_index,
    persons,
    sms_consents,
    sms_replies,
    sms_texts,
)

STAND_IN = "purged."  # the prefix of a phone token's stand-in (real tokens have no dot)


@dataclass(frozen=True)
class PurgeScope:
    """What one batch purges: its persons, all their cases, the reports of those cases
    and every report of the persons, whatever its case (one in a case that went to
    another person when a review unlinked another of its reports included)."""

    program_id: str
    person_ids: Sequence[str]
    case_ids: Sequence[str]
    event_ids: Sequence[int]
    event_keys: Sequence[tuple[str, str, str]]


def scope_of(
    conn: Connection, program_id: str, person_ids: Sequence[str], case_ids: Sequence[str]
) -> PurgeScope:
    rows = conn.execute(
        select(events.c.id, events.c.source, events.c.agency_id, events.c.event_id).where(
            or_(events.c.case_id.in_(case_ids), events.c.person_id.in_(person_ids))
        )
    ).all()
    return PurgeScope(
        program_id,
        list(person_ids),
        list(case_ids),
        [r.id for r in rows],
        [(r.source, r.agency_id, r.event_id) for r in rows],
    )


def _change(
    conn: Connection, table: Table, where: Any, values: Mapping[str, Any] | None, apply: bool
) -> int:
    """Update (values) or delete (None) the rows `where` selects; or count them."""
    if not apply:
        return int(conn.execute(select(func.count()).select_from(table).where(where)).scalar_one())
    if values is None:
        return int(conn.execute(delete(table).where(where)).rowcount)
    return int(conn.execute(update(table).where(where).values(**values)).rowcount)


def _phone_tokens(conn: Connection, s: PurgeScope) -> set[str]:
    """The phone tokens of the batch's own rows (not yet replaced)."""
    queries = [
        select(events.c.phone_token).where(events.c.id.in_(s.event_ids)),
        select(sms_texts.c.phone_token).where(sms_texts.c.case_id.in_(s.case_ids)),
        select(case_contacts.c.phone_token).where(case_contacts.c.case_id.in_(s.case_ids)),
        select(sms_replies.c.phone_token).where(sms_replies.c.case_id.in_(s.case_ids)),
        select(sms_consents.c.phone_token).where(
            sms_consents.c.program_id == s.program_id,
            or_(sms_consents.c.person_id.in_(s.person_ids), sms_consents.c.case_id.in_(s.case_ids)),
        ),
    ]
    found: set[str] = set()
    for query in queries:
        found.update(t for t in conn.execute(query).scalars() if t and not t.startswith(STAND_IN))
    return found


def _shared(conn: Connection, s: PurgeScope, tokens: Sequence[str]) -> set[str]:
    """Of these tokens, those someone outside the batch still uses in the program."""
    if not tokens:
        return set()
    others = [
        select(events.c.phone_token).where(
            events.c.program_id == s.program_id,
            events.c.phone_token.in_(tokens),
            events.c.id.not_in(s.event_ids),
        ),
        select(sms_texts.c.phone_token).where(
            sms_texts.c.program_id == s.program_id,
            sms_texts.c.phone_token.in_(tokens),
            or_(sms_texts.c.case_id.is_(None), sms_texts.c.case_id.not_in(s.case_ids)),
        ),
        select(case_contacts.c.phone_token).where(
            case_contacts.c.program_id == s.program_id,
            case_contacts.c.phone_token.in_(tokens),
            case_contacts.c.case_id.not_in(s.case_ids),
        ),
        select(sms_consents.c.phone_token).where(
            sms_consents.c.program_id == s.program_id,
            sms_consents.c.phone_token.in_(tokens),
            sms_consents.c.person_id.is_not(None),
            sms_consents.c.person_id.not_in(s.person_ids),
        ),
        select(sms_replies.c.phone_token).where(
            sms_replies.c.phone_token.in_(tokens),
            sms_replies.c.case_id.is_not(None),
            sms_replies.c.case_id.not_in(s.case_ids),
        ),
    ]
    found: set[str] = set()
    for query in others:
        found.update(conn.execute(query).scalars())
    return found


def _identities(conn: Connection, s: PurgeScope, apply: bool) -> Counter[str]:
    n: Counter[str] = Counter()
    n["identities"] = _change(
        conn,
        persons,
        and_(persons.c.id.in_(s.person_ids), persons.c.identity_sealed != ""),
        {"identity_sealed": ""},
        apply,
    )
    n["addresses"] = _change(
        conn, person_addresses, person_addresses.c.person_id.in_(s.person_ids), None, apply
    )
    n["index_entries"] = _change(
        conn, person_index, person_index.c.person_id.in_(s.person_ids), None, apply
    )
    return n


EVENT_PERSONAL = (
    "patient_sealed",
    "scene_sealed",
    "referral_sealed",
    "clinical_sealed",
    "scene_tokens",
    "phone_token",
)


def _reports(conn: Connection, s: PurgeScope, apply: bool) -> Counter[str]:
    n: Counter[str] = Counter()
    left = or_(*(events.c[name].is_not(None) for name in EVENT_PERSONAL))
    n["reports"] = _change(
        conn,
        events,
        and_(events.c.id.in_(s.event_ids), left),
        dict.fromkeys(EVENT_PERSONAL),
        apply,
    )
    n["inbox"] = (
        _change(
            conn,
            gateway_inbox,
            tuple_(gateway_inbox.c.source, gateway_inbox.c.agency_id, gateway_inbox.c.event_id).in_(
                list(s.event_keys)
            ),
            None,
            apply,
        )
        if s.event_keys
        else 0
    )
    n["reviews"] = _change(
        conn,
        match_reviews,
        and_(
            or_(
                match_reviews.c.event_row_id.in_(s.event_ids),
                match_reviews.c.person_id.in_(s.person_ids),
                match_reviews.c.candidate_person_id.in_(s.person_ids),
            ),
            match_reviews.c.evidence != "",
        ),
        {"evidence": ""},
        apply,
    )
    return n


def _visits(conn: Connection, s: PurgeScope, apply: bool) -> Counter[str]:
    n: Counter[str] = Counter()
    n["notes"] = _change(
        conn,
        attempts,
        and_(attempts.c.case_id.in_(s.case_ids), attempts.c.notes_sealed.is_not(None)),
        {"notes_sealed": None},
        apply,
    )
    c = case_contacts.c
    n["contacts"] = _change(
        conn,
        case_contacts,
        and_(c.case_id.in_(s.case_ids), or_(c.contact_sealed != "", c.phone_token.is_not(None))),
        {"contact_sealed": "", "phone_token": None},
        apply,
    )
    return n


def _texts(
    conn: Connection,
    s: PurgeScope,
    stand_ins: Mapping[str, str],
    unshared: Sequence[str],
    apply: bool,
) -> Counter[str]:
    n: Counter[str] = Counter()
    t, r, k = sms_texts.c, sms_replies.c, sms_consents.c
    n["texts"] = _change(
        conn,
        sms_texts,
        and_(t.case_id.in_(s.case_ids), or_(t.to_sealed != "", t.body != "")),
        {"to_sealed": "", "body": ""},
        apply,
    )
    n["replies"] = _change(
        conn,
        sms_replies,
        and_(r.case_id.in_(s.case_ids), r.body_sealed.is_not(None)),
        {"body_sealed": None},
        apply,
    )
    tokens = list(stand_ins)
    if not tokens:
        return n
    rekeyed = {"phone_token": case(dict(stand_ins), value=t.phone_token)}
    n["text_phone_tokens"] = _change(
        conn,
        sms_texts,
        and_(t.case_id.in_(s.case_ids), t.phone_token.in_(tokens)),
        rekeyed,
        apply,
    )
    caseless = and_(r.case_id.is_(None), r.program_id == s.program_id, r.phone_token.in_(unshared))
    n["reply_phone_tokens"] = _change(
        conn,
        sms_replies,
        or_(and_(r.case_id.in_(s.case_ids), r.phone_token.in_(tokens)), caseless),
        {"phone_token": case(dict(stand_ins), value=r.phone_token), "body_sealed": None},
        apply,
    )
    n["consent_phone_tokens"] = (
        _change(
            conn,
            sms_consents,
            and_(k.program_id == s.program_id, k.phone_token.in_(unshared)),
            {"phone_token": case(dict(stand_ins), value=k.phone_token)},
            apply,
        )
        if unshared
        else 0
    )
    return n


def _shared_consents(conn: Connection, s: PurgeScope, shared: Sequence[str], apply: bool) -> int:
    """The consents of a phone someone else still uses keep their token and answer (the
    word belongs to the number); they lose the batch's person and case ids instead."""
    if not shared:
        return 0
    k = sms_consents.c
    person_ids, case_ids = list(s.person_ids), list(s.case_ids)
    return _change(
        conn,
        sms_consents,
        and_(
            k.program_id == s.program_id,
            k.phone_token.in_(shared),
            or_(k.person_id.in_(person_ids), k.case_id.in_(case_ids)),
        ),
        {
            "person_id": case((k.person_id.in_(person_ids), None), else_=k.person_id),
            "case_id": case((k.case_id.in_(case_ids), None), else_=k.case_id),
        },
        apply,
    )


def purge(conn: Connection, s: PurgeScope, *, apply: bool) -> Counter[str]:
    """Remove (apply) or count (dry run) the batch's personal data; what went, by kind."""
    tokens = _phone_tokens(conn, s)
    shared = _shared(conn, s, sorted(tokens))
    unshared = sorted(tokens - shared)
    stand_ins = {token: STAND_IN + secrets.token_urlsafe(12) for token in sorted(tokens)}
    removed: Counter[str] = Counter(phones=len(tokens))
    removed.update(_identities(conn, s, apply))
    removed.update(_reports(conn, s, apply))
    removed.update(_visits(conn, s, apply))
    removed.update(_texts(conn, s, stand_ins, unshared, apply))
    removed["consent_owners"] = _shared_consents(conn, s, sorted(shared), apply)
    return +removed
