"""Sending queued texts: exactly one effect per text, paced per sender.

Each due text is claimed (state `sending`, committed) before the sender is
called, and recorded `sent` with Twilio's sid after. A crash in between leaves
it in `sending`; at start-up `reconcile` asks the sender (Twilio's message list:
same To, time range, body) whether it went out: found, it is recorded `sent`;
not found, it is queued again. A send that got no answer (a timeout, a dropped
connection: Twilio may have taken it) goes to `checking`, and the running
dispatcher looks it up the same way `CHECK_AFTER` later, before any retry. So no
client gets a text twice and none is lost.

Every claim re-checks the rules, so a change after a text was queued still
counts: consent (latest word for that phone in that program), the case's
outcome, an invalid phone, and quiet hours in the recipient's zone (deferred to
the next permitted minute, never dropped). Errors: 21610 (opted out) revokes
consent and is never retried; 21211/21614 mark the phone invalid and flag the
case; any other 4xx is final. 429/20429, 21611, 5xx, network faults, no answer
and 401 are about the sender, not the client: sending pauses as a whole, claimed
texts go back to the queue, and a probe tries again with exponential backoff and
jitter, capped, honouring Retry-After (services/sms/sender_pause.py); the text that
met it waits without using up a try, then meets quiet hours and the 24-hour rule
like any other at its next claim. A 5xx is taken as not sent (Twilio answered, and
answers 201 when it has taken a message)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from schemas.sms import TextState
from services.clock import Clock
from services.core.sending import TextFacts, Verdict, send_verdict
from services.ports import Cipher, TextSender
from services.programs import Programs
from services.sms import consent
from services.sms import send_results as results
from services.sms.dispatch_loop import SendLoop
from services.sms.dispatch_parts import Claimed, DispatchStats, Pacer, Result, RetryPolicy
from services.sms.send_results import CHECK_AFTER
from services.sms.sender_pause import PauseState, SenderPause
from services.sms.sender_types import SendRefused, SendRetryable
from services.sms.texts import announce_text, cancel_texts, to_aad
from services.store.repository import Store
from services.store.tables import cases, sms_texts

__all__ = ["CHECK_AFTER", "Dispatcher", "Pacer", "Sender"]
CHECK_EVERY_S = 60.0
Sender = TextSender


class Dispatcher:
    def __init__(
        self,
        store: Store,
        cipher: Cipher,
        programs: Programs,
        sender: Sender,
        clock: Clock,
        *,
        rate_per_s: float = 1.0,
        concurrency: int = 8,
        batch: int = 200,
        retry: RetryPolicy | None = None,
        pacer: Pacer | None = None,
        check_every_s: float = CHECK_EVERY_S,
        report_pause: Callable[[PauseState | None], None] | None = None,
    ) -> None:
        self.store, self.cipher, self.programs = store, cipher, programs
        self.sender, self.clock = sender, clock
        self.pacer = pacer or Pacer(rate_per_s)
        self.concurrency, self.batch = concurrency, batch
        self.retry = retry or RetryPolicy()
        self.stats = DispatchStats()
        self.check_every_s = check_every_s
        self.pause = SenderPause(
            clock, self.retry.first_backoff_s, self.retry.max_backoff_s, report_pause
        )

    # --- after a crash --------------------------------------------------------------

    async def reconcile(self, *, checking_only: bool = False) -> None:
        """Settle texts whose fate is unknown: sent (found at the sender) or queued again.
        At start-up (before any claim) every one in `sending` (left by a crash) and the
        `checking` ones whose check is due; while running, only those `checking` ones
        (never a text in `sending`: another dispatcher may be sending it right now). A
        row another dispatcher settled meanwhile is left as that one left it. A sender
        that cannot answer pauses sending (and the error is raised); one that answers
        ends a pause."""
        rows = await asyncio.to_thread(self._unsettled_rows, checking_only)
        for row in rows:
            to = self.cipher.open(row.to_sealed, to_aad(row.idempotency_key))
            since = (row.sending_since or row.updated_at) - timedelta(minutes=2)
            try:
                found = await self.sender.find_sent(
                    to, row.body, since, self.clock() + timedelta(minutes=2)
                )
            except SendRetryable as exc:
                self.pause.failed(exc, None)
                raise
            self.pause.answered()
            await asyncio.to_thread(self._settle, row, found)

    def _unsettled_rows(self, checking_only: bool) -> list[Any]:
        t = sms_texts.c
        checking = and_(t.state == TextState.CHECKING.value, t.send_after <= self.clock())
        which = checking if checking_only else or_(t.state == TextState.SENDING.value, checking)
        with self.store.engine.connect() as conn:
            return list(conn.execute(select(sms_texts).where(which)).all())

    def _settle(self, seen: Any, found: Any) -> None:
        """Only if the row is still as `seen` when it was looked up: the update that
        checks so also holds the row (PostgreSQL) until this transaction ends."""
        now, text_id = self.clock(), seen.id
        with self.store.transaction() as conn:
            still = conn.execute(
                update(sms_texts)
                .where(
                    sms_texts.c.id == text_id,
                    sms_texts.c.state == seen.state,
                    sms_texts.c.updated_at == seen.updated_at,
                )
                .values(updated_at=now)
            ).rowcount
            if still != 1:  # settled, claimed or sent by another dispatcher meanwhile
                return
            row = conn.execute(select(sms_texts).where(sms_texts.c.id == text_id)).one()
            results.settle_unknown(conn, row, found, now, self.stats, self.retry.max_tries)

    # --- the loop -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None, *, until_idle: bool = False) -> None:
        """Claim, send and record until `stop` is set (or, with `until_idle`, until
        nothing is due). Claiming runs ahead of sending so the pace never stalls.

        An outage of the store does not lose a send or hold a text: claiming waits
        and tries again; a text claimed a while ago is checked again before it goes
        (waiting for the store if need be); what was sent is recorded as soon as the
        store is back (the sends are kept in memory meanwhile); on the way out, texts
        claimed but not sent are released to the queue."""
        await SendLoop(self, stop or asyncio.Event(), until_idle).run()

    async def send_one(self, item: Claimed) -> Result:
        try:
            sent = await self.sender.send(item.to, item.body)
        except SendRefused as exc:  # an answer about this client: the sender is up
            self.pause.answered()
            return Result(item, refused=exc)
        except SendRetryable as exc:
            if self.pause.state is None:
                self.stats.paused += 1
            return Result(item, retry=exc, resume_at=self.pause.failed(exc, item.text_id))
        self.pause.answered()
        return Result(item, sent=sent)

    def held(self, item: Claimed) -> bool:
        """Sending is paused and this claimed text is not the probe: it must not go."""
        return self.pause.holds(item.text_id)

    # --- claiming (rules re-checked) ----------------------------------------------------

    def claim(self, now: datetime) -> list[Claimed]:
        """Due texts, their rules checked; none while sending is paused, one (the probe)
        when the pause is over."""
        allowed = self.pause.may_claim(now)
        if allowed == 0:
            return []
        with self.store.transaction() as conn:
            query = (
                select(sms_texts)
                .where(
                    and_(
                        sms_texts.c.state == TextState.QUEUED.value,
                        sms_texts.c.send_after <= now,
                    )
                )
                .order_by(sms_texts.c.send_after, sms_texts.c.id)
                .limit(self.batch)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            claimed = []
            for row in conn.execute(query).all():
                if self._hold_back(conn, row, now):
                    continue
                changes = {
                    "state": TextState.SENDING.value,
                    "sending_since": now,
                    "tries": row.tries + 1,
                    "updated_at": now,
                }
                won = conn.execute(
                    update(sms_texts)
                    .where(
                        and_(
                            sms_texts.c.id == row.id,
                            sms_texts.c.state == TextState.QUEUED.value,
                        )
                    )
                    .values(**changes)
                ).rowcount
                if won != 1:  # another sender claimed it first (SQLite has no SKIP LOCKED)
                    continue
                announce_text(conn, row, now, **changes)
                to = self.cipher.open(row.to_sealed, to_aad(row.idempotency_key))
                claimed.append(Claimed(row.id, to, row.body, row.tries + 1))
                if allowed == 1:
                    self.pause.probing(row.id)
                    break
            return claimed

    def _hold_back(self, conn: Connection, row: Any, now: datetime) -> bool:
        """True when the queued text must not go now: cancelled, or deferred past quiet
        hours."""
        verdict = self._verdict(conn, row, now)
        if verdict.cancel is not None:
            cancel_texts(conn, sms_texts.c.id == row.id, verdict.cancel, now)
            self.stats.cancelled += 1
            return True
        if verdict.later is not None:
            conn.execute(
                update(sms_texts)
                .where(sms_texts.c.id == row.id)
                .values(send_after=verdict.later, updated_at=now)
            )
            announce_text(conn, row, now, send_after=verdict.later, reason="quiet hours")
            self.stats.deferred += 1
            return True
        return False

    def _verdict(self, conn: Connection, row: Any, now: datetime) -> Verdict:
        """The rules (services/core/sending.py) on what the store knows of the text."""
        return send_verdict(self._facts(conn, row), now)

    def _facts(self, conn: Connection, row: Any) -> TextFacts:
        case = None
        if row.case_id is not None:
            case = conn.execute(
                select(cases.c.outcome, cases.c.phone_invalid_at).where(cases.c.id == row.case_id)
            ).first()
        return TextFacts(
            program=self.programs.get(row.program_id),
            due_at=row.due_at,
            zone=row.zone,
            state_code=row.state_code,
            consent=consent.granted(conn, row.program_id, row.phone_token),
            died=row.person_id is not None
            and consent.died(conn, row.program_id, row.phone_token, row.person_id),
            phone_invalid=case is not None and case.phone_invalid_at is not None,
            case_outcome=case.outcome if case is not None else None,
        )

    def still_to_send(self, item: Claimed) -> bool:
        """A text claimed a while ago is checked again just before it goes: still ours
        (`sending`: nobody cancelled it), still wanted (consent, the case, a death, not
        24 h late: else cancelled) and not in quiet hours now (else back to the queue
        for the next permitted minute). Only then it goes."""
        now = self.clock()
        with self.store.transaction() as conn:
            row = conn.execute(select(sms_texts).where(sms_texts.c.id == item.text_id)).first()
            if row is None or row.state != TextState.SENDING.value:
                self.pause.let_go([item.text_id])
                return False
            verdict = self._verdict(conn, row, now)
            if verdict.go:
                return True
            self.pause.let_go([item.text_id])
            changes: dict[str, Any] = (
                {"state": TextState.CANCELLED.value, "reason": verdict.cancel, "final_at": now}
                if verdict.cancel is not None
                else {"state": TextState.QUEUED.value, "send_after": verdict.later,
                      "sending_since": None, "tries": row.tries - 1, "reason": "quiet hours"}
            )  # fmt: skip
            changes["updated_at"] = now
            conn.execute(
                update(sms_texts)
                .where(sms_texts.c.id == row.id, sms_texts.c.state == TextState.SENDING.value)
                .values(**changes)
            )
            announce_text(conn, row, now, **changes)
            if verdict.cancel is not None:
                self.stats.cancelled += 1
            else:
                self.stats.deferred += 1
            return False

    def release(self, items: list[Claimed]) -> None:
        """Claimed but not sent (stopping, or sending paused): back to the queue."""
        self.pause.let_go([item.text_id for item in items])
        now = self.clock()
        with self.store.transaction() as conn:
            for item in items:
                conn.execute(
                    update(sms_texts)
                    .where(
                        and_(
                            sms_texts.c.id == item.text_id,
                            sms_texts.c.state == TextState.SENDING.value,
                        )
                    )
                    .values(
                        state=TextState.QUEUED.value,
                        sending_since=None,
                        tries=item.tries - 1,
                        updated_at=now,
                    )
                )

    def record(self, done: list[Result]) -> None:
        with self.store.transaction() as conn:
            results.record(conn, done, self.clock(), self.stats)
