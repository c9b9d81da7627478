"""Sending paused as a whole while the sender cannot take texts: Twilio away (5xx, no
connection, no answer), Twilio saying "not now" (429/20429, 21611) or refusing our
credentials (401). None of these is the client's refusal, so no text fails for them.

The first such answer pauses the sender until `resume_at` (exponential backoff with
jitter, from `first_backoff_s`, never more than `max_backoff_s`, never sooner than a
Retry-After): nothing more is claimed, texts claimed but not sent are released to the
queue (so none goes late or in quiet hours: each is claimed again, its rules checked
again, after the pause), and the text that met it waits in the queue until then,
without using up one of its tries. At `resume_at` one text is claimed as a probe: sent,
or refused for the client's own sake (Twilio answered), sending resumes; another such
answer pauses again, for longer. Times come from the injected clock.

Each change of the pause is reported (`report`: `qrt up` writes it where `qrt status`
and `/metrics` read it, services/runtime/sending_state.py) and logged: a 401 as an
error. Thread-safe: claims run in a worker thread, sends in the event loop."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from services.core.sending import retry_delay_s
from services.sms.sender_types import SenderUnauthorized, SendRetryable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PauseState:
    cause: str  # "unauthorized", "outage" or "throttled"
    detail: str  # Twilio's code and words, numbers scrubbed
    since: datetime
    resume_at: datetime  # when the next probe may go
    failed_probes: int = 0

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["since"], found["resume_at"] = self.since.isoformat(), self.resume_at.isoformat()
        return found


def cause_of(exc: SendRetryable) -> str:
    if isinstance(exc, SenderUnauthorized):
        return "unauthorized"
    return "outage" if exc.outage or exc.maybe_sent else "throttled"


def describe_answer(exc: SendRetryable) -> str:
    said = f"HTTP {exc.http_status}" if exc.http_status else "no HTTP answer"
    if exc.code:
        said += f", code {exc.code}"
    return f"{said}: {exc.detail}"[:200]


class SenderPause:
    def __init__(
        self,
        clock: Callable[[], datetime],
        first_backoff_s: float,
        max_backoff_s: float,
        report: Callable[[PauseState | None], None] | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.clock, self.first_s, self.max_s = clock, first_backoff_s, max_backoff_s
        self.report, self.jitter = report, jitter
        self.state: PauseState | None = None
        self._probe: int | None = None  # the text sent as a probe, while in flight
        self._lock = threading.Lock()

    def may_claim(self, now: datetime) -> int | None:
        """How many texts may be claimed now: None (no limit), 0, or 1 (a probe)."""
        with self._lock:
            if self.state is None:
                return None
            if self._probe is not None or now < self.state.resume_at:
                return 0
            return 1

    def probing(self, text_id: int) -> None:
        with self._lock:
            self._probe = text_id

    def holds(self, text_id: int) -> bool:
        """True when this claimed text must not go now (paused, and it is not the probe)."""
        with self._lock:
            return self.state is not None and self._probe != text_id

    def let_go(self, text_ids: list[int]) -> None:
        """These claimed texts were not sent (released, deferred, cancelled)."""
        with self._lock:
            if self._probe in text_ids:
                self._probe = None

    def answered(self) -> None:
        """The sender answered (a text sent, or refused for the client's sake, or a look-up
        done): sending goes on."""
        with self._lock:
            was, self.state, self._probe = self.state, None, None
        if was is not None:
            log.info("sending resumed: the sender answers again (paused since %s)",
                     was.since.isoformat(timespec="seconds"))  # fmt: skip
            self._report(None)

    def failed(self, exc: SendRetryable, text_id: int | None) -> datetime:
        """Twilio away, "not now" or our credentials refused: paused (or for longer, when
        this was the probe). Returns when the text may be tried again."""
        now, cause = self.clock(), cause_of(exc)
        with self._lock:
            was = self.state
            probe_failed = was is not None and text_id is not None and self._probe == text_id
            if probe_failed:
                self._probe = None
            if was is None or probe_failed:
                self._probe = None
                probes = was.failed_probes + 1 if was is not None else 0
                resume_at = now + timedelta(seconds=self._wait(probes + 1, exc.retry_after_s))
                state = PauseState(cause, describe_answer(exc), was.since if was else now,
                                   resume_at, probes)  # fmt: skip
            else:  # another send of the same moment: the pause stands, Retry-After counts
                later = now + timedelta(seconds=exc.retry_after_s or 0.0)
                state = replace(was, resume_at=max(was.resume_at, later))
                if cause == "unauthorized":
                    state = replace(state, cause=cause, detail=describe_answer(exc))
            self.state = state
        self._log(was, state, probe_failed)
        self._report(state)
        return state.resume_at

    def _wait(self, streak: int, retry_after_s: float | None) -> float:
        backoff = retry_delay_s(streak, self.first_s, self.max_s, None, self.jitter())
        return max(min(self.max_s, backoff), retry_after_s or 0.0)

    def _log(self, was: PauseState | None, state: PauseState, probe_failed: bool) -> None:
        resume = state.resume_at.isoformat(timespec="seconds")
        if state.cause == "unauthorized" and (was is None or was.cause != "unauthorized"):
            log.error("sending paused: the sender refused our credentials (%s); claimed "
                      "texts released; trying again at %s", state.detail, resume)  # fmt: skip
        elif was is None:
            log.warning("sending paused: the sender is not taking texts (%s, %s); trying "
                        "again at %s", state.cause, state.detail, resume)  # fmt: skip
        elif probe_failed:
            log.warning("sending still paused after %d tries (%s, %s); trying again at %s",
                        state.failed_probes, state.cause, state.detail, resume)  # fmt: skip

    def _report(self, state: PauseState | None) -> None:
        if self.report is None:
            return
        try:
            self.report(state)
        except Exception as exc:  # a report never stops sending
            log.warning("could not report the sending pause: %s", type(exc).__name__)
