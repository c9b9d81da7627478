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
case; 429/20429, 5xx and network faults are retried with exponential backoff
and jitter, honouring Retry-After (which also pauses the sender's pace); a
5xx is taken as not sent (Twilio answered, and answers 201 when it has taken a
message)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, or_, select, update

from schemas.cases import MERGED_INTO, visit_outcome
from schemas.sms import ConsentSource, TextState
from services.clock import Clock
from services.crypto.fields import FieldCipher
from services.programs import Programs
from services.runtime.retry import describe, is_transient
from services.sms import consent
from services.sms.delivery import apply_statuses
from services.sms.recipient_time import is_permitted, next_permitted, sending_hours
from services.sms.sender_types import SendRefused, SendRetryable, SentMessage
from services.sms.texts import STALE_AFTER, announce_text, cancel_texts, revoke, to_aad
from services.store.case_records import lock_programs
from services.store.repository import Store
from services.store.tables import cases, sms_texts

log = logging.getLogger(__name__)

OPTED_OUT = 21610
CHECK_AFTER = timedelta(minutes=2)  # a text with no answer is looked up this much later
CHECK_EVERY_S = 60.0
RECHECK_AFTER_S = 5.0  # a text claimed longer ago than this is checked again before it goes
OUTAGE_PATIENCE_S = 3600.0  # how long sends wait for the store to record them
INVALID_PHONE = frozenset({21211, 21614})


class Sender(Protocol):
    async def send(self, to: str, body: str) -> SentMessage: ...

    async def find_sent(
        self, to: str, body: str, since: datetime, until: datetime
    ) -> SentMessage | None: ...


class Pacer:
    """At most `rate` sends a second from one sender, evenly spaced; a Retry-After
    pauses every send of that sender."""

    def __init__(
        self,
        rate_per_s: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.gap = 1.0 / rate_per_s
        self.monotonic, self.sleep = monotonic, sleep
        self._next = 0.0

    async def wait(self) -> None:
        now = self.monotonic()
        slot = max(self._next, now)
        self._next = slot + self.gap
        if slot > now:
            await self.sleep(slot - now)

    def pause(self, seconds: float) -> None:
        self._next = max(self._next, self.monotonic() + seconds)


@dataclass
class Claimed:
    text_id: int
    to: str
    body: str
    tries: int
    claimed_at: float = field(default_factory=time.monotonic)


@dataclass
class Result:
    claimed: Claimed
    sent: SentMessage | None = None
    refused: SendRefused | None = None
    retry: SendRetryable | None = None


@dataclass
class DispatchStats:
    sent: int = 0
    deferred: int = 0
    cancelled: int = 0
    failed: int = 0
    retried: int = 0
    reconciled_sent: int = 0
    reconciled_requeued: int = 0
    held_for_check: int = 0
    by_code: dict[int, int] = field(default_factory=dict)


class Dispatcher:
    def __init__(
        self,
        store: Store,
        cipher: FieldCipher,
        programs: Programs,
        sender: Sender,
        clock: Clock,
        *,
        rate_per_s: float = 1.0,
        concurrency: int = 8,
        batch: int = 200,
        max_tries: int = 8,
        first_backoff_s: float = 5.0,
        max_backoff_s: float = 600.0,
        pacer: Pacer | None = None,
        check_every_s: float = CHECK_EVERY_S,
    ) -> None:
        self.store, self.cipher, self.programs = store, cipher, programs
        self.sender, self.clock = sender, clock
        self.pacer = pacer or Pacer(rate_per_s)
        self.concurrency, self.batch, self.max_tries = concurrency, batch, max_tries
        self.first_backoff_s, self.max_backoff_s = first_backoff_s, max_backoff_s
        self.stats = DispatchStats()
        self.check_every_s = check_every_s

    # --- after a crash --------------------------------------------------------------

    async def reconcile(self, *, checking_only: bool = False) -> None:
        """Settle texts whose fate is unknown: sent (found at the sender) or queued again.
        At start-up (before any claim) every one in `sending` (left by a crash) and the
        `checking` ones whose check is due; while running, only those `checking` ones
        (never a text in `sending`: another dispatcher may be sending it right now). A
        row another dispatcher settled meanwhile is left as that one left it."""
        rows = await asyncio.to_thread(self._unsettled_rows, checking_only)
        for row in rows:
            to = self.cipher.open(row.to_sealed, to_aad(row.idempotency_key))
            since = (row.sending_since or row.updated_at) - timedelta(minutes=2)
            found = await self.sender.find_sent(
                to, row.body, since, self.clock() + timedelta(minutes=2)
            )
            await asyncio.to_thread(self._settle, row, found)

    def _unsettled_rows(self, checking_only: bool) -> list[Any]:
        t = sms_texts.c
        checking = and_(t.state == TextState.CHECKING.value, t.send_after <= self.clock())
        which = checking if checking_only else or_(t.state == TextState.SENDING.value, checking)
        with self.store.engine.connect() as conn:
            return list(conn.execute(select(sms_texts).where(which)).all())

    def _settle(self, seen: Any, found: SentMessage | None) -> None:
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
            if found is not None:
                self._mark_sent(conn, row, found, now)
                self.stats.reconciled_sent += 1
            elif row.tries >= self.max_tries:
                self.stats.failed += 1
                changes = {
                    "state": TextState.FAILED.value,
                    "reason": f"gave up after {row.tries} tries: not found at the sender",
                    "final_at": now,
                    "updated_at": now,
                }
                conn.execute(update(sms_texts).where(sms_texts.c.id == text_id).values(**changes))
                announce_text(conn, row, now, **changes)
            else:
                changes = {
                    "state": TextState.QUEUED.value,
                    "sending_since": None,
                    "updated_at": now,
                }
                conn.execute(update(sms_texts).where(sms_texts.c.id == text_id).values(**changes))
                announce_text(conn, row, now, **changes, reason="not found at the sender")
                self.stats.reconciled_requeued += 1

    # --- the loop -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None, *, until_idle: bool = False) -> None:
        """Claim, send and record until `stop` is set (or, with `until_idle`, until
        nothing is due). Claiming runs ahead of sending so the pace never stalls.

        An outage of the store does not lose a send or hold a text: claiming waits
        and tries again; a text claimed a while ago is checked again before it goes
        (waiting for the store if need be); what was sent is recorded as soon as the
        store is back (the sends are kept in memory meanwhile); on the way out, texts
        claimed but not sent are released to the queue."""
        stop = stop or asyncio.Event()
        todo: asyncio.Queue[Claimed | None] = asyncio.Queue(maxsize=self.batch * 2)
        done: asyncio.Queue[Result | None] = asyncio.Queue()

        async def claimer() -> None:
            while not stop.is_set():
                if todo.qsize() >= self.batch:
                    await asyncio.sleep(0.02)
                    continue
                claimed = await self._until_stored(
                    lambda: self._claim(self.clock()), "claiming texts", stop
                )
                for item in claimed or ():
                    await todo.put(item)
                if not claimed:
                    if until_idle and todo.empty():
                        break
                    await _wait(stop, 0.5)
            for _ in range(self.concurrency):
                await todo.put(None)

        async def sender() -> None:
            while (item := await todo.get()) is not None:
                if stop.is_set() and not until_idle:
                    await self._until_stored(partial(self._release, [item]), "releasing", None)
                    continue
                if time.monotonic() - item.claimed_at > RECHECK_AFTER_S:
                    go = await self._until_stored(
                        partial(self._still_to_send, item), "checking a text", stop
                    )
                    if not go:
                        if go is None:  # stopping while the store was away
                            await self._until_stored(
                                partial(self._release, [item]), "releasing", None
                            )
                        continue
                await self.pacer.wait()
                await done.put(await self._send_one(item))

        async def recorder() -> None:
            finished = False
            while not finished:
                item = await done.get()
                batch: list[Result] = []
                while item is not None:
                    batch.append(item)
                    if done.empty() or len(batch) >= 500:
                        break
                    item = done.get_nowait()
                finished = item is None
                if batch:  # kept until the store has them: never lost, never sent again
                    await self._until_stored(partial(self._record, batch), "recording", None)

        async def checker() -> None:
            """Texts that got no answer: looked up at the sender when their check is due."""
            while not stop.is_set():
                await _wait(stop, self.check_every_s)
                if stop.is_set():
                    return
                try:
                    await self.reconcile(checking_only=True)
                except Exception as exc:  # checked again next time; never fatal
                    log.warning("could not check unanswered texts: %s", describe(exc))

        senders = [asyncio.create_task(sender()) for _ in range(self.concurrency)]
        record_task = asyncio.create_task(recorder())
        check_task = None if until_idle else asyncio.create_task(checker())
        try:
            await claimer()
            await asyncio.gather(*senders)
        finally:
            for task in [*senders, *([check_task] if check_task else [])]:
                task.cancel()
            await asyncio.gather(*senders, *([check_task] if check_task else []),
                                 return_exceptions=True)  # fmt: skip
            left = [i for i in _drain(todo) if i is not None]
            if left:  # claimed, never sent: back to the queue (else reconciled at start)
                await self._until_stored(lambda: self._release(left), "releasing", None)
            await done.put(None)
            await record_task

    async def _until_stored(
        self, call: Callable[[], Any], what: str, stop: asyncio.Event | None
    ) -> Any:
        """`call()` in a thread, tried again while the store is away (an outage, not a
        refusal); None if `stop` is set meanwhile. Without `stop` it keeps trying for
        OUTAGE_PATIENCE_S at most (then the start-up reconcile settles the texts)."""
        delay, waited = 0.2, 0.0
        while True:
            try:
                return await asyncio.to_thread(call)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if stop is None and waited > OUTAGE_PATIENCE_S:
                    log.error("%s: the store is still away (%s); giving up", what, describe(exc))
                    return None
                log.warning("%s: the store is away (%s); trying again", what, describe(exc))
            if stop is not None and stop.is_set():
                return None
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 10.0)

    async def _send_one(self, item: Claimed) -> Result:
        try:
            return Result(item, sent=await self.sender.send(item.to, item.body))
        except SendRefused as exc:
            return Result(item, refused=exc)
        except SendRetryable as exc:
            if exc.retry_after_s:
                self.pacer.pause(exc.retry_after_s)
            return Result(item, retry=exc)

    # --- claiming (rules re-checked) ----------------------------------------------------

    def _claim(self, now: datetime) -> list[Claimed]:
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
            return claimed

    def _hold_back(self, conn: Connection, row: Any, now: datetime) -> bool:
        """True when the queued text must not go now: cancelled, or deferred past quiet
        hours."""
        cancel, later = self._verdict(conn, row, now)
        if cancel is not None:
            cancel_texts(conn, sms_texts.c.id == row.id, cancel, now)
            self.stats.cancelled += 1
            return True
        if later is not None:
            conn.execute(
                update(sms_texts)
                .where(sms_texts.c.id == row.id)
                .values(send_after=later, updated_at=now)
            )
            announce_text(conn, row, now, send_after=later, reason="quiet hours")
            self.stats.deferred += 1
            return True
        return False

    def _verdict(
        self, conn: Connection, row: Any, now: datetime
    ) -> tuple[str | None, datetime | None]:
        """(why the text must not go at all, or None; when it may go if not now, or None)."""
        reason = self._why_not(conn, row, now)
        if reason is not None:
            return reason, None
        zone, hours = ZoneInfo(row.zone), sending_hours(row.state_code)
        if not is_permitted(now, zone, hours):
            return None, next_permitted(now, zone, hours)
        return None, None

    def _why_not(self, conn: Connection, row: Any, now: datetime) -> str | None:
        program = self.programs.get(row.program_id)
        if program is None or not program.sms.enabled:
            return "texts are off for this program"
        if now - row.due_at > STALE_AFTER:
            return "more than 24 h late"
        if not consent.granted(conn, row.program_id, row.phone_token):
            return "no consent"
        if row.person_id is not None and consent.died(
            conn, row.program_id, row.phone_token, row.person_id
        ):
            return "the person died"
        if row.case_id is not None:
            case = conn.execute(
                select(cases.c.outcome, cases.c.phone_invalid_at).where(cases.c.id == row.case_id)
            ).first()
            if case is not None and case.phone_invalid_at is not None:
                return "phone marked invalid"
            if case is not None and case.outcome == MERGED_INTO:
                return "case merged into another"
            outcome = visit_outcome(case.outcome) if case is not None else None
            if program.sms.stops_texts(outcome):
                return f"case closed: {outcome}"
        return None

    def _still_to_send(self, item: Claimed) -> bool:
        """A text claimed a while ago is checked again just before it goes: still ours
        (`sending`: nobody cancelled it), still wanted (consent, the case, a death, not
        24 h late: else cancelled) and not in quiet hours now (else back to the queue
        for the next permitted minute). Only then it goes."""
        now = self.clock()
        with self.store.transaction() as conn:
            row = conn.execute(select(sms_texts).where(sms_texts.c.id == item.text_id)).first()
            if row is None or row.state != TextState.SENDING.value:
                return False
            cancel, later = self._verdict(conn, row, now)
            if cancel is None and later is None:
                return True
            changes: dict[str, Any] = (
                {"state": TextState.CANCELLED.value, "reason": cancel, "final_at": now}
                if cancel is not None
                else {"state": TextState.QUEUED.value, "send_after": later,
                      "sending_since": None, "tries": row.tries - 1, "reason": "quiet hours"}
            )  # fmt: skip
            changes["updated_at"] = now
            conn.execute(
                update(sms_texts)
                .where(sms_texts.c.id == row.id, sms_texts.c.state == TextState.SENDING.value)
                .values(**changes)
            )
            announce_text(conn, row, now, **changes)
            if cancel is not None:
                self.stats.cancelled += 1
            else:
                self.stats.deferred += 1
            return False

    def _release(self, items: list[Claimed]) -> None:
        """Claimed but not sent (stopping): back to the queue."""
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

    # --- recording ---------------------------------------------------------------------

    def _record(self, results: list[Result]) -> None:
        now = self.clock()
        with self.store.transaction() as conn:
            self._lock_flagged_cases(conn, results)
            for result in results:
                row = conn.execute(
                    select(sms_texts).where(sms_texts.c.id == result.claimed.text_id)
                ).one()
                if result.sent is not None:
                    self._mark_sent(conn, row, result.sent, now)
                    self.stats.sent += 1
                elif result.refused is not None:
                    self._refused(conn, row, result.refused, now)
                elif result.retry is not None and result.retry.maybe_sent:
                    self._hold_for_check(conn, row, result.retry, now)
                elif result.retry is not None:
                    self._retry_later(conn, row, result.retry, now)

    @staticmethod
    def _lock_flagged_cases(conn: Connection, results: list[Result]) -> None:
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

    def _mark_sent(self, conn: Connection, row: Any, sent: SentMessage, now: datetime) -> None:
        changes = {
            "state": TextState.SENT.value,
            "sent_at": now,
            "twilio_sid": sent.sid,
            "twilio_status": sent.status,
            "updated_at": now,
        }
        conn.execute(update(sms_texts).where(sms_texts.c.id == row.id).values(**changes))
        announce_text(conn, row, now, **changes)
        apply_statuses(conn, sent.sid, now)  # a callback may have come first

    def _refused(self, conn: Connection, row: Any, exc: SendRefused, now: datetime) -> None:
        code = exc.code
        self.stats.failed += 1
        self.stats.by_code[code or 0] = self.stats.by_code.get(code or 0, 0) + 1
        reason = f"refused by Twilio ({code}): {exc.detail}"[:200]
        changes = {
            "state": TextState.FAILED.value,
            "error_code": code,
            "reason": reason,
            "final_at": now,
            "updated_at": now,
        }
        conn.execute(update(sms_texts).where(sms_texts.c.id == row.id).values(**changes))
        announce_text(conn, row, now, **changes)
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
        self, conn: Connection, row: Any, exc: SendRetryable, now: datetime
    ) -> None:
        """No answer: it may have gone out. `checking` until `reconcile` has looked, which
        the running dispatcher does CHECK_AFTER from now (`send_after` holds that time)."""
        self.stats.held_for_check += 1
        changes = {
            "state": TextState.CHECKING.value,
            "send_after": now + CHECK_AFTER,
            "error_code": exc.code,
            "reason": f"{exc.detail}; checking the sender before any retry"[:200],
            "updated_at": now,
        }
        conn.execute(update(sms_texts).where(sms_texts.c.id == row.id).values(**changes))
        announce_text(conn, row, now, **changes)

    def _retry_later(self, conn: Connection, row: Any, exc: SendRetryable, now: datetime) -> None:
        self.stats.by_code[exc.code or exc.http_status or 0] = (
            self.stats.by_code.get(exc.code or exc.http_status or 0, 0) + 1
        )
        if row.tries >= self.max_tries:
            self.stats.failed += 1
            changes: dict[str, Any] = {
                "state": TextState.FAILED.value,
                "error_code": exc.code,
                "reason": f"gave up after {row.tries} tries: {exc.detail}"[:200],
                "final_at": now,
                "updated_at": now,
            }
        else:
            self.stats.retried += 1
            backoff = min(self.max_backoff_s, self.first_backoff_s * 2 ** (row.tries - 1))
            wait = max(backoff * (0.5 + random.random()), exc.retry_after_s or 0.0)
            changes = {
                "state": TextState.QUEUED.value,
                "sending_since": None,
                "send_after": now + timedelta(seconds=wait),
                "error_code": exc.code,
                "reason": f"retrying: {exc.detail}"[:200],
                "updated_at": now,
            }
        conn.execute(update(sms_texts).where(sms_texts.c.id == row.id).values(**changes))
        announce_text(conn, row, now, **changes)


def _drain(queue: asyncio.Queue[Any]) -> list[Any]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
