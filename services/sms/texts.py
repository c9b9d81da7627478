"""Which texts a case's client gets: queue them, keep them in step with the case,
cancel them when consent goes or contact ends. Every text is a row with an
idempotency key (case id + what it is) before anything is sent, so re-running
this for the same case (a redelivered case event) queues nothing twice.

The SMS worker schedules a whole batch of cases at once (`schedule_cases_texts`):
one transaction, reads set-based (services/sms/text_reads.py), the decisions made
in memory (`TextChanges`), writes in bulk. The rows themselves are built in
services/sms/text_plans.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from schemas.cases import CaseEventKind, CaseStatus
from schemas.sms import ConsentSource, OutboundText, TextState
from services.core import texts as core
from services.crypto.fields import FieldCipher
from services.programs import Program, Programs
from services.runtime.retry import describe, isolate
from services.sms import consent
from services.sms.cadence import PlannedText
from services.sms.recipient_time import recipient_zone
from services.sms.text_plans import Recipient, planned_texts, text_row, zone_decides_keys
from services.sms.text_reads import TEXT_COLUMNS, CasesTexts, PhoneEvent, chunks, read_cases_texts
from services.store import person_records
from services.store.repository import Store
from services.store.tables import sms_outbox, sms_texts
from services.topics import SMS_OUTBOUND

# The case events that can change which texts a case gets (who, when, whether at all).
TEXT_RELEVANT = frozenset(
    {
        CaseEventKind.OPENED,
        CaseEventKind.LINKED,
        CaseEventKind.UNLINKED,
        CaseEventKind.PLANNED,
        CaseEventKind.AT_RISK,  # the case lost its slot: no visit-day reminder
        CaseEventKind.OUTCOME_RECORDED,
        CaseEventKind.CLOSED,
        CaseEventKind.MERGED,  # the survivor took the merged case's reports and texts
    }
)


def to_aad(idempotency_key: str) -> str:
    return f"sms_texts.to:{idempotency_key}"


def outbox_record(row: Any, at: datetime, **changes: Any) -> dict[str, Any]:
    """The SMS outbox row (`sms.outbound.v1`) that announces the text's new state."""
    merged = {**row._mapping, **changes} if hasattr(row, "_mapping") else {**row, **changes}
    record = OutboundText(
        text_id=merged["id"],
        program_id=merged["program_id"],
        case_id=merged["case_id"],
        kind=merged["kind"],
        state=TextState(merged["state"]),
        at=at,
        due_at=merged["due_at"],
        send_after=merged["send_after"],
        twilio_sid=merged.get("twilio_sid"),
        error_code=merged.get("error_code"),
        reason=merged.get("reason"),
    )
    return {
        "topic": SMS_OUTBOUND,
        "key": record.program_id,
        "payload": record.model_dump_json(),
        "created_at": at,
    }


def announce_text(conn: Connection, row: Any, at: datetime, **changes: Any) -> None:
    """Write the text's new state to the SMS outbox (`sms.outbound.v1`)."""
    conn.execute(sms_outbox.insert().values(**outbox_record(row, at, **changes)))


def cancel_texts(conn: Connection, where: Any, reason: str, now: datetime) -> int:
    """Every queued text matching `where` is cancelled (a text being sent cannot be)."""
    rows = conn.execute(
        select(sms_texts)
        .where(and_(where, sms_texts.c.state == TextState.QUEUED.value))
        .order_by(sms_texts.c.id)  # rows are taken in one order by every writer
    ).all()
    for row in rows:
        conn.execute(
            update(sms_texts)
            .where(and_(sms_texts.c.id == row.id, sms_texts.c.state == TextState.QUEUED.value))
            .values(state=TextState.CANCELLED.value, reason=reason, final_at=now, updated_at=now)
        )
        announce_text(conn, row, now, state=TextState.CANCELLED.value, reason=reason)
    return len(rows)


def revoke(
    conn: Connection,
    program_ids: list[str],
    token: str,
    source: ConsentSource,
    now: datetime,
    *,
    case_id: str | None = None,
) -> int:
    """Consent withdrawn in these programs: recorded, and every text not yet sent cancelled."""
    consent.record(
        conn,
        [consent.consent_row(p, token, False, source, now, case_id=case_id) for p in program_ids],
    )
    return cancel_texts(
        conn,
        and_(sms_texts.c.phone_token == token, sms_texts.c.program_id.in_(program_ids)),
        f"consent revoked ({source.value})",
        now,
    )


def schedule_case_texts(
    store: Store, cipher: FieldCipher, programs: Programs, case_id: str, now: datetime
) -> int:
    """Bring the case's texts in step with the case; return how many were queued."""
    return schedule_cases_texts(store, cipher, programs, [case_id], now)


def schedule_cases_texts(
    store: Store, cipher: FieldCipher, programs: Programs, case_ids: Sequence[str], now: datetime
) -> int:
    """Bring each case's texts in step with it, all in one transaction; return how many
    were queued.

    The same rows, keys and outbox records as `schedule_case_texts` for each id in
    turn (an id given twice is handled twice, as two calls would), but read set-based
    (services/sms/text_reads.py), written in bulk, and a sealed patient record is
    opened only when a text must be written from it or the visit day depends on where
    its recipient lives. A case or program that is not known is passed over."""
    ids = list(case_ids)
    if not ids:
        return 0
    with store.transaction() as conn:
        changes = TextChanges(conn, cipher, now, read_cases_texts(conn, ids))
        for case_id in ids:
            case = changes.known.cases.get(case_id)
            program = programs.get(case.program_id) if case is not None else None
            if program is not None:
                changes.schedule(program, case)
        changes.write()
        return changes.queued


def schedule_cases_texts_or_refuse(
    store: Store, cipher: FieldCipher, programs: Programs, case_ids: Sequence[str], now: datetime
) -> list[tuple[str, str]]:
    """`schedule_cases_texts`; a case whose texts the store refuses for their data (not an
    outage, which is raised) is left out, found by halving the batch: (case id, why)."""
    refused = isolate(
        list(dict.fromkeys(case_ids)),
        lambda batch: schedule_cases_texts(store, cipher, programs, batch, now),
    )
    return [(case_id, describe(exc)) for case_id, exc in refused]


@dataclass(frozen=True)
class TextAnnouncement:
    """An outbox record to write once the batch's texts are: a new text's, or a
    cancelled text's (as announced)."""

    key: str  # the text's idempotency key
    cancelled: dict[str, Any] | None = None


class TextChanges:
    """One batch's changes to texts, decided case by case in memory against what was
    read up front and what earlier cases of the batch changed, then written in bulk
    (`write`), outbox records in the order decided (a case's cancellations, then its new
    texts in due order), only for what the store really changed. A revocation
    (a case closed as opted out) writes what was decided before it, then revokes in the
    store as `revoke` does: it reaches texts of cases outside the batch too."""

    def __init__(self, conn: Connection, cipher: FieldCipher, now: datetime, known: CasesTexts):
        self.conn, self.cipher, self.now, self.known = conn, cipher, now, known
        self.queued = 0
        self.inserts: list[dict[str, Any]] = []
        self.cancels: dict[int, str] = {}  # text id -> reason
        self.announcements: list[TextAnnouncement] = []
        self._recipients: dict[str, Recipient | None] = {}  # event key -> recipient it gives

    def schedule(self, program: Program, case: Any) -> None:
        """Decide the case's texts (services/core/texts.py), given what is known."""
        settings = program.sms
        phones = self._consenting_phones(case)
        stopped = core.stop(settings, case.outcome, bool(phones))
        if stopped is not None:
            if stopped.revoke_consent and phones:
                self._revoke(program.id, phones[0].phone_token, case.id)
            self._cancel(case.id, lambda _: True, stopped.reason)
            return
        closed = case.status == CaseStatus.CLOSED.value
        texts = self.known.texts.setdefault(case.id, {})
        planned = planned_texts(settings, case, closed, program.zone)
        # The sealed patient record is opened only when a text is to be written from it
        # or the recipient's zone changes which texts the case has.
        missing = core.to_queue(case.id, planned, texts, self.now)
        if not (missing or zone_decides_keys(settings, case, closed)):
            self._cancel_unplanned(case.id, planned)
            return
        recipient = self._recipient(phones)
        if recipient is None:
            self._cancel(case.id, lambda _: True, "no phone with consent")
            return
        zone = recipient_zone(recipient.zip_code, recipient.phone, program.zone)
        planned = planned_texts(settings, case, closed, zone.zone)
        self._cancel_unplanned(case.id, planned)
        for p in core.to_queue(case.id, planned, texts, self.now):
            key = core.text_key(case.id, p)
            to_sealed = self.cipher.seal(recipient.phone, to_aad(key))
            row = text_row(
                program, case, recipient, zone, p, key=key, to_sealed=to_sealed, now=self.now
            )
            self.inserts.append(row)
            texts[key] = {c.name: row.get(c.name) for c in TEXT_COLUMNS} | {"slot": key}
            self.announcements.append(TextAnnouncement(key))

    def write(self) -> None:
        """Write what was decided so far: cancellations, new texts, then their records."""
        cancelled: set[int] = set()
        by_reason: dict[str, list[int]] = {}
        for text_id, reason in self.cancels.items():
            by_reason.setdefault(reason, []).append(text_id)
        for reason, text_ids in by_reason.items():
            for chunk in chunks(text_ids):
                cancelled.update(
                    self.conn.execute(
                        update(sms_texts)
                        .where(
                            and_(
                                sms_texts.c.id.in_(chunk),
                                sms_texts.c.state == TextState.QUEUED.value,
                            )
                        )
                        .values(
                            state=TextState.CANCELLED.value,
                            reason=reason,
                            final_at=self.now,
                            updated_at=self.now,
                        )
                        .returning(sms_texts.c.id)
                    ).scalars()
                )
        inserted: dict[str, dict[str, Any]] = {}
        if self.inserts:
            dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
            # a key a concurrent writer stored meanwhile is left to it: not counted, not announced
            for row in self.conn.execute(
                dialect.insert(sms_texts).on_conflict_do_nothing().returning(*TEXT_COLUMNS),
                self.inserts,
            ):
                inserted[row.idempotency_key] = dict(row._mapping)
            for new in self.inserts:
                key, texts = new["idempotency_key"], self.known.texts[new["case_id"]]
                if key in inserted:
                    texts[key] = inserted[key] | {"slot": key}
                else:
                    del texts[key]
        records = [
            outbox_record(inserted[a.key], self.now)
            if a.cancelled is None
            else outbox_record(a.cancelled, self.now)
            for a in self.announcements
            if (a.key in inserted if a.cancelled is None else a.cancelled["id"] in cancelled)
        ]
        if records:
            self.conn.execute(sms_outbox.insert(), records)
        self.queued += len(inserted)
        self.inserts, self.cancels, self.announcements = [], {}, []

    def _consenting_phones(self, case: Any) -> list[PhoneEvent]:
        """The case's events whose phone consents to texts (in the case's program), newest
        first. An event has a phone token only if its phone is a valid number
        (services/cases/opening.py), so the newest of these is the recipient."""
        return [
            e
            for e in self.known.phones.get(case.id, [])
            if self.known.consents_to_texts(case.program_id, e.phone_token, case.person_id)
        ]

    def _recipient(self, phones: list[PhoneEvent]) -> Recipient | None:
        for event in phones:
            if event.key not in self._recipients:
                patient = person_records.open_patient(self.cipher, event.key, event.patient_sealed)
                phone = consent.e164(patient.phone)
                zip_code = patient.address.zip if patient.address else None
                self._recipients[event.key] = (
                    None
                    if phone is None
                    else Recipient(phone, event.phone_token, patient.language, zip_code)
                )
            recipient = self._recipients[event.key]
            if recipient is not None:
                return recipient
        return None

    def _revoke(self, program_id: str, token: str, case_id: str) -> None:
        self.write()
        revoke(self.conn, [program_id], token, ConsentSource.OUTCOME, self.now, case_id=case_id)
        self.known.consents[(program_id, token)] = False
        reason = f"consent revoked ({ConsentSource.OUTCOME.value})"
        for texts in self.known.texts.values():
            for text in texts.values():
                if (
                    text["phone_token"] == token
                    and text["program_id"] == program_id
                    and text["state"] == TextState.QUEUED.value
                ):
                    text.update(state=TextState.CANCELLED.value, reason=reason)

    def _cancel_unplanned(self, case_id: str, planned: list[PlannedText]) -> None:
        queued = {
            text["idempotency_key"]: text.get("slot", text["idempotency_key"])
            for text in self.known.texts.get(case_id, {}).values()
            if text["state"] == TextState.QUEUED.value
        }
        gone = set(core.no_longer_planned(case_id, planned, queued))
        self._cancel(case_id, lambda text: text["idempotency_key"] in gone, "no longer planned")

    def _cancel(self, case_id: str, matches: Callable[[dict[str, Any]], bool], reason: str) -> None:
        """Every queued text of the case that `matches` is cancelled, in id order."""

        def doomed() -> list[dict[str, Any]]:
            texts = self.known.texts.get(case_id, {}).values()
            return [t for t in texts if t["state"] == TextState.QUEUED.value and matches(t)]

        if any(t["id"] is None for t in doomed()):
            self.write()  # a text decided in this batch gets its id first
        for text in sorted(doomed(), key=lambda t: int(t["id"])):
            text.update(state=TextState.CANCELLED.value, reason=reason)
            self.cancels[text["id"]] = reason
            self.announcements.append(TextAnnouncement(text["idempotency_key"], dict(text)))
