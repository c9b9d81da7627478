"""What the outcome of a send writes: sent (with the sender's sid), refused (21610
revokes consent, 21211/21614 mark the phone invalid and flag the case), no answer
(`checking` until the sender's list is looked at), or back to the queue while the
sender is paused (services/sms/sender_pause.py), that try not counted; and what a
reconcile found: sent, queued again, or given up after `max_tries` unknown fates.
Inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from schemas.sms import ConsentSource, TextState
from services.sms import consent
from services.sms.delivery import apply_statuses
from services.sms.dispatch_parts import DispatchStats, Result
from services.sms.sender_pause import cause_of
from services.sms.sender_types import SendRefused, SendRetryable, SentMessage
from services.sms.texts import announce_text, cancel_texts, revoke
from services.store.case_records import lock_programs
from services.store.tables import cases, sms_texts

OPTED_OUT = 21610
INVALID_PHONE = frozenset({21211, 21614})
CHECK_AFTER = timedelta(minutes=2)  # a text with no answer is looked up this much later


def record(conn: Connection, results: list[Result], now: datetime, stats: DispatchStats) -> None:
    lock_flagged_cases(conn, results)
    for result in results:
        row = conn.execute(select(sms_texts).where(sms_texts.c.id == result.claimed.text_id)).one()
        if result.sent is not None:
            mark_sent(conn, row, result.sent, now)
            stats.sent += 1
        elif result.refused is not None:
            _refused(conn, row, result.refused, now, stats)
        elif result.retry is not None and result.retry.maybe_sent:
            _hold_for_check(conn, row, result.retry, now, stats)
        elif result.retry is not None:
            _wait_for_sender(conn, row, result.retry, result.resume_at or now, now, stats)


def lock_flagged_cases(conn: Connection, results: list[Result]) -> None:
    """A refusal that flags a case (invalid phone) changes that case: its program and
    the case are locked before any text of the batch (the store's one lock order)."""
    if conn.dialect.name != "postgresql":
        return
    flagging = [
        r.claimed.text_id
        for r in results
        if r.refused is not None and r.refused.code in INVALID_PHONE
    ]
    if not flagging:
        return
    found = conn.execute(
        select(sms_texts.c.program_id, sms_texts.c.case_id).where(sms_texts.c.id.in_(flagging))
    ).all()
    lock_programs(conn, {r.program_id for r in found})
    case_ids = sorted({r.case_id for r in found if r.case_id is not None})
    if case_ids:
        conn.execute(
            select(cases.c.id).where(cases.c.id.in_(case_ids)).order_by(cases.c.id)
            .with_for_update()
        )  # fmt: skip


def mark_sent(conn: Connection, row: Any, sent: SentMessage, now: datetime) -> None:
    _change(conn, row, now, state=TextState.SENT.value, sent_at=now, twilio_sid=sent.sid,
            twilio_status=sent.status)  # fmt: skip
    apply_statuses(conn, sent.sid, now)  # a callback may have come first


def settle_unknown(
    conn: Connection, row: Any, found: SentMessage | None, now: datetime, stats: DispatchStats,
    max_tries: int,
) -> None:  # fmt: skip
    """A text whose fate was unknown, as the sender's message list answered: sent, given
    up after `max_tries`, or queued again."""
    if found is not None:
        mark_sent(conn, row, found, now)
        stats.reconciled_sent += 1
    elif row.tries >= max_tries:
        stats.failed += 1
        _change(conn, row, now, state=TextState.FAILED.value, final_at=now,
                reason=f"gave up after {row.tries} tries: not found at the sender")  # fmt: skip
    else:
        changes = {"state": TextState.QUEUED.value, "sending_since": None, "updated_at": now}
        conn.execute(update(sms_texts).where(sms_texts.c.id == row.id).values(**changes))
        announce_text(conn, row, now, **changes, reason="not found at the sender")
        stats.reconciled_requeued += 1


def _change(conn: Connection, row: Any, now: datetime, **changes: Any) -> None:
    changes["updated_at"] = now
    conn.execute(update(sms_texts).where(sms_texts.c.id == row.id).values(**changes))
    announce_text(conn, row, now, **changes)


def _refused(
    conn: Connection, row: Any, exc: SendRefused, now: datetime, stats: DispatchStats
) -> None:
    code = exc.code
    stats.failed += 1
    stats.count_code(code or 0)
    _change(conn, row, now, state=TextState.FAILED.value, error_code=code, final_at=now,
            reason=f"refused by Twilio ({code}): {exc.detail}"[:200])  # fmt: skip
    if code == OPTED_OUT:
        programs = consent.programs_of(conn, row.phone_token) or [row.program_id]
        revoke(conn, programs, row.phone_token, ConsentSource.TWILIO_21610, now)
    elif code in INVALID_PHONE:
        if row.case_id is not None:
            conn.execute(
                update(cases)
                .where(cases.c.id == row.case_id)
                .values(phone_invalid_at=now, updated_at=now, version=cases.c.version + 1)
            )
        cancel_texts(conn, sms_texts.c.phone_token == row.phone_token, "phone invalid", now)


def _hold_for_check(
    conn: Connection, row: Any, exc: SendRetryable, now: datetime, stats: DispatchStats
) -> None:
    """No answer: it may have gone out. `checking` until `reconcile` has looked, which
    the running dispatcher does CHECK_AFTER from now (`send_after` holds that time)."""
    stats.held_for_check += 1
    _change(conn, row, now, state=TextState.CHECKING.value, send_after=now + CHECK_AFTER,
            error_code=exc.code,
            reason=f"{exc.detail}; checking the sender before any retry"[:200])  # fmt: skip


def _wait_for_sender(
    conn: Connection, row: Any, exc: SendRetryable, resume_at: datetime, now: datetime,
    stats: DispatchStats,
) -> None:  # fmt: skip
    """The sender did not take the text (away, "not now", our credentials refused): back
    to the queue until the pause ends. The try is not counted: the text did not reach
    the sender, or the sender answered that it did not take it."""
    stats.count_code(exc.code or exc.http_status or 0)
    stats.retried += 1
    _change(conn, row, now, state=TextState.QUEUED.value, sending_since=None,
            tries=max(0, row.tries - 1), send_after=max(resume_at, now), error_code=exc.code,
            reason=f"waiting for the sender ({cause_of(exc)}): {exc.detail}"[:200])  # fmt: skip
