"""Family support after a death: the death of a known person opens one `family_support`
case for their family, weeks later ("grief resources for families").

Which deaths: a person of the program with an earlier case (of any kind) who is known
to have died: a fatal report linked to them (at once, or by a review's link later), a
possible death a coordinator confirmed or an outcome `deceased` recorded by staff (the
case closed as deceased: the death is counted from its closing). The timer worker looks
for them every sweep (`sweep_family_support`); so every way a death becomes known opens
the case, and each only once: the case's id comes from the program and the person
(services/store/contact_records.py `family_case_id`), and a second report of the same
death finds it there.

The case: kind `family_support`, tier `family_support` (below survivors' cases unless
the program ranks it with them), its window from the death (`[program.family_support]`,
services/cases/family_settings.py), no client (`person_id` is empty: nothing that
follows a living person, such as tiers, merges, joins or a death, touches it; the person
who died is named by its opening audit row), and copies of the contacts of the person's
earlier cases (each sealed again for its new row; consent travels with the phone), each
with consent sent a support check-in when the window opens (never to the deceased's
phone: services/cases/contact_texts.py). With no contact known, the case is flagged for
the coordinator to add one (`contact_needed`, in the queue and on the case page). A
family's queued check-in is cancelled once their case is closed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite

from schemas.cases import CaseEventKind, CaseKind, CaseStatus, Tier, VisitResult
from schemas.engagement_views import ContactRelation
from schemas.sms import TextState
from services.cases.contact_texts import queue_support_text
from services.crypto.fields import FieldCipher
from services.programs import Program, Programs
from services.runtime.retry import describe, is_transient
from services.sms.texts import cancel_texts
from services.store import case_records as records
from services.store import contact_records as contacts
from services.store.person_records import open_identity
from services.store.repository import Store
from services.store.tables import case_contacts, cases, events, persons, sms_texts, timers

log = logging.getLogger(__name__)
SYSTEM = "system"


@dataclass(frozen=True)
class KnownDeath:
    person_id: str
    died_at: datetime


def sweep_family_support(
    store: Store, programs: Programs, cipher: FieldCipher, now: datetime
) -> int:
    """Open the family-support case of every known death that has none yet, and cancel
    the check-ins of families whose case is closed; return how many cases were opened.
    One program's fault (not an outage, which is raised) never stops the others."""
    opened = 0
    for program in programs.programs:
        if not program.family_support.enabled:
            continue
        try:
            opened += _sweep_program(store, cipher, program, now)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.error("family support of program %s failed: %s", program.id, describe(exc))
    return opened


def _sweep_program(store: Store, cipher: FieldCipher, program: Program, now: datetime) -> int:
    with store.transaction() as conn:
        found = deaths_to_support(conn, program, now)
        stale = _closed_families_texts(conn, program.id)
        if not (found or stale):
            return 0
        records.lock_programs(conn, [program.id])  # the one lock order: programs, cases, texts
        opened = [d for d in found if open_family_case(conn, cipher, program, d, now)]
        if stale:
            cancel_texts(conn, sms_texts.c.id.in_(stale), "case closed", now)
        if opened:
            records.request_plan(conn, [program.id], now)
        return len(opened)


def deaths_to_support(conn: Connection, program: Program, now: datetime) -> list[KnownDeath]:
    """The program's known deaths whose family has no case yet and whose window is not
    over, earliest death first."""
    since = now - timedelta(days=program.family_support.due_after_days)
    died: dict[str, datetime] = {}
    fatal = conn.execute(
        select(events.c.person_id, func.min(events.c.occurred_at))
        .where(
            and_(
                events.c.program_id == program.id,
                events.c.fatal.is_(True),
                events.c.person_id.is_not(None),
                events.c.occurred_at > since,
            )
        )
        .group_by(events.c.person_id)
    ).all()
    closed = conn.execute(
        select(cases.c.person_id, func.min(cases.c.closed_at))
        .where(
            and_(
                cases.c.program_id == program.id,
                cases.c.outcome == VisitResult.DECEASED.value,
                cases.c.person_id.is_not(None),
                cases.c.closed_at > since,
            )
        )
        .group_by(cases.c.person_id)
    ).all()
    for person_id, at in [*fatal, *closed]:
        died[person_id] = min(at, died.get(person_id, at))
    if not died:
        return []
    wanted = {contacts.family_case_id(program.id, p): p for p in died}
    have = set(conn.execute(select(cases.c.id).where(cases.c.id.in_(sorted(wanted)))).scalars())
    known = set(
        conn.execute(
            select(cases.c.person_id)
            .where(and_(cases.c.program_id == program.id, cases.c.person_id.in_(sorted(died))))
            .distinct()
        ).scalars()
    )
    return sorted(
        (
            KnownDeath(person, died[person])
            for case_id, person in wanted.items()
            if case_id not in have and person in known
            and not program.family_support.too_late(died[person], now)
        ),
        key=lambda d: (d.died_at, d.person_id),
    )  # fmt: skip


def open_family_case(
    conn: Connection, cipher: FieldCipher, program: Program, death: KnownDeath, now: datetime
) -> bool:
    """The family's case with copies of the person's contacts and their check-ins; False
    when it exists already. Call with the program locked."""
    settings = program.family_support
    case_id = contacts.family_case_id(program.id, death.person_id)
    opens_at, due_at = settings.window(death.died_at)
    row = dict(
        id=case_id, program_id=program.id, status=CaseStatus.OPEN.value,
        tier=Tier.FAMILY_SUPPORT.value, tier_rank=settings.tier_rank, occurred_at=death.died_at,
        window_opens_at=opens_at, window_due_at=due_at, opened_at=now, updated_at=now,
        person_id=None, kind=CaseKind.FAMILY_SUPPORT.value,
    )  # fmt: skip
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    made = conn.execute(
        dialect.insert(cases).values(**row).on_conflict_do_nothing().returning(cases.c.id)
    ).first()
    if made is None:
        return False
    conn.execute(
        timers.insert(),
        records.timer_rows(case_id, program.id, opens_at, due_at, program.at_risk_before_due),
    )
    records.audit(conn, now, SYSTEM, contacts.FAMILY_OPENED, "case", case_id,
                  {"person_id": death.person_id, "died_at": death.died_at.isoformat(),
                   "referral": settings.referral.value})  # fmt: skip
    copies = copy_contacts(conn, cipher, program.id, death.person_id, case_id, now)
    records.announce(conn, case_id, CaseEventKind.OPENED, now,
                     {"reason": "death", "case_kind": CaseKind.FAMILY_SUPPORT.value,
                      "contacts": len(copies)})  # fmt: skip
    language = _language_of(conn, cipher, death.person_id)
    for copy in contacts.active_contacts(conn, [case_id]):
        queue_support_text(
            conn, cipher, program, copy, person_id=death.person_id,
            due_at=max(opens_at, now), now=now, language=language,
        )  # fmt: skip
    return True


def copy_contacts(
    conn: Connection,
    cipher: FieldCipher,
    program_id: str,
    person_id: str,
    case_id: str,
    now: datetime,
) -> list[int]:
    """The contacts of the person's earlier cases, one copy each (the same phone or, with
    no phone, the same name and relation, once), sealed again for the new case."""
    rows = conn.execute(
        select(case_contacts)
        .join(cases, cases.c.id == case_contacts.c.case_id)
        .where(
            and_(
                cases.c.program_id == program_id,
                cases.c.person_id == person_id,
                case_contacts.c.removed_at.is_(None),
            )
        )
        .order_by(case_contacts.c.id)
    ).all()
    seen: set[tuple[str, ...]] = set()
    made = []
    for r in rows:
        opened = contacts.open_contact(cipher, r.id, r.contact_sealed)
        same = (r.phone_token,) if r.phone_token else (r.relation, opened.name.casefold())
        if same in seen:
            continue
        seen.add(same)
        copy_id = contacts.insert_contact(
            conn, cipher, opened, case_id=case_id, program_id=program_id, person_id=person_id,
            relation=ContactRelation(r.relation), phone_token=r.phone_token,
            sms_consent=bool(r.sms_consent), actor=SYSTEM, now=now,
        )  # fmt: skip
        records.audit(conn, now, SYSTEM, "contact_added", "case", case_id,
                      {"contact_id": copy_id, "copied_from": r.id, "relation": r.relation,
                       "phone": r.phone_token is not None,
                       "sms_consent": bool(r.sms_consent)})  # fmt: skip
        made.append(copy_id)
    return made


def _language_of(conn: Connection, cipher: FieldCipher, person_id: str) -> str | None:
    """The language the person's reports gave: the family's texts are written in it."""
    sealed = conn.execute(
        select(persons.c.identity_sealed).where(persons.c.id == person_id)
    ).scalar_one_or_none()
    if sealed is None:
        return None
    language = open_identity(cipher, person_id, sealed).get("language")
    return str(language) if language else None


def _closed_families_texts(conn: Connection, program_id: str) -> list[int]:
    """Queued texts to contacts of cases that are closed (the family was reached)."""
    closed = select(cases.c.id).where(
        and_(cases.c.program_id == program_id, cases.c.status == CaseStatus.CLOSED.value)
    )
    return list(
        conn.execute(
            select(sms_texts.c.id).where(
                and_(
                    sms_texts.c.program_id == program_id,
                    sms_texts.c.state == TextState.QUEUED.value,
                    sms_texts.c.contact_id.is_not(None),
                    sms_texts.c.case_id.in_(closed),
                )
            )
        ).scalars()
    )
