"""The case engine's decisions, pure: for each report of a batch, given what is known
(the events of open cases near it in time, the open case of each known person, each
person's history, the features of the persons it may be compared with), what becomes
of it. No I/O: the store adapter (services/cases/opening.py) reads `Known` in a few
set-based queries and writes the verdicts.

For each report, in order:
- a report of the same overdose (another source within `incident_merge_minutes`, and
  the same person, or the same scene while one side names nobody or the two named
  could be one person: services/identity/incident.py; exactly one such case) joins it;
- a fatal report opens nothing: linked to a person it is a death, uncertain (a review
  candidate, or a same-incident case) a possible death;
- a report older than the program's `max_event_age_days` is history only;
- a repeat overdose of a person with an open case joins it, and moves its window when
  the new overdose is the later one;
- anything else opens a case, its tier from the person's history (Huntington's rule).
A report decided joins the events the next reports are compared with."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.cases import Tier
from services.cases.tiering import PastCase, tier_for_history
from services.identity.incident import could_be_one_person
from services.identity.matching import Decision, PersonFeatures
from services.planning.visit_window import visit_window
from services.programs import Program

CASE_NAMESPACE = uuid.UUID("5b0f3c1e-7a4e-4f0a-9a55-1d2f3b4c5d6e")


def stored_event_key(source: str, agency_id: str, event_id: str) -> str:
    """The key that names an event's case, person and sealed data: source|agency|event id."""
    return f"{source}|{agency_id}|{event_id}"


def case_id_for_key(key: str) -> str:
    """Deterministic: a replay of the same event always names the same case."""
    return str(uuid.uuid5(CASE_NAMESPACE, key))


@dataclass
class Recent:
    """An event of an open case, as the same-incident check needs it."""

    case_id: str
    person_id: str | None
    source: str
    occurred_at: datetime
    scene: set[str]


class RecentIndex:
    """Events of open cases near the batch in time, found by person or scene token,
    so the same-incident check looks at a handful of events, not all of them."""

    def __init__(self, recent: Sequence[Recent] = ()) -> None:
        self._by_person: dict[str, list[Recent]] = {}
        self._by_token: dict[str, list[Recent]] = {}
        for r in recent:
            self.add(r)

    def add(self, r: Recent) -> None:
        if r.person_id is not None:
            self._by_person.setdefault(r.person_id, []).append(r)
        for token in r.scene:
            self._by_token.setdefault(token, []).append(r)

    def near(self, person_id: str | None, probes: set[str]) -> list[Recent]:
        found = list(self._by_person.get(person_id, ())) if person_id is not None else []
        for token in probes:
            found.extend(self._by_token.get(token, ()))
        return found


def same_incident(
    recent: RecentIndex,
    source: str,
    occurred_at: datetime,
    person_id: str | None,
    probes: set[str],
    margin: timedelta,
    one_person: Callable[[str], bool],
) -> str | None:
    """The one open case reporting the same overdose (module doc), or None."""
    matches = set()
    for r in recent.near(person_id, probes):
        if r.source == source or abs(r.occurred_at - occurred_at) > margin:
            continue
        if person_id is not None and r.person_id == person_id:
            matches.add(r.case_id)
        elif probes & r.scene and (
            person_id is None or r.person_id is None or one_person(r.person_id)
        ):
            matches.add(r.case_id)
    return matches.pop() if len(matches) == 1 else None


@dataclass(frozen=True)
class Report:
    """One new report as the decisions need it: who it resolved to, and where."""

    key: str  # stored_event_key
    source: str
    occurred_at: datetime
    fatal: bool
    person_id: str | None
    decision: Decision | None  # how the person was resolved (link, review, new)
    candidate_id: str | None  # the person a review compares it with
    probes: frozenset[str]  # the scene's blind tokens and their neighbours
    features: PersonFeatures


@dataclass(frozen=True)
class OpenCase:
    case_id: str
    tier: Tier
    opens_at: datetime
    due_at: datetime


@dataclass(frozen=True)
class JoinCase:
    case_id: str
    reason: str  # same_incident | repeat_overdose
    rewindow: tuple[datetime, datetime] | None = None  # the later overdose's window


@dataclass(frozen=True)
class Fatal:
    death: bool  # linked to its person: that person died
    candidates: tuple[str, ...] = ()  # an uncertain match: persons who may have died
    same_incident_case: str | None = None  # an open case of the same scene, minutes apart


@dataclass(frozen=True)
class TooOld:
    pass


Verdict = OpenCase | JoinCase | Fatal | TooOld


@dataclass
class Known:
    recent: RecentIndex
    open_by_person: dict[str, tuple[str, datetime]]  # person -> (open case id, its overdose)
    history: dict[str, list[PastCase]]
    # the persons a report may be compared with (the adapter keeps it current as it
    # resolves the batch: a merged identity compares with what it has become)
    features: dict[str, PersonFeatures]
    opened: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # in this batch


def decide_all(
    reports: Sequence[Report], known: Known, program: Program, now: datetime
) -> list[Verdict]:
    """The verdict of each report of a batch, in order (module doc)."""
    verdicts = []
    for report in reports:
        verdicts.append(decide(report, known, program, now))
    return verdicts


def decide(report: Report, known: Known, program: Program, now: datetime) -> Verdict:
    """The verdict of one report; `known` then counts it for the reports after it."""
    margin = timedelta(minutes=program.matching.incident_merge_minutes)
    verdict = _decide_one(report, known, program, now, margin)
    if isinstance(verdict, OpenCase | JoinCase):
        known.recent.add(
            Recent(verdict.case_id, report.person_id, report.source, report.occurred_at,
                   set(report.probes))
        )  # fmt: skip
    if isinstance(verdict, OpenCase) and report.person_id is not None:
        known.opened[report.person_id] = (verdict.case_id, report.occurred_at)
    return verdict


def _decide_one(
    report: Report, known: Known, program: Program, now: datetime, margin: timedelta
) -> Verdict:
    def one_person(other: str) -> bool:
        theirs = known.features.get(other)
        return theirs is not None and could_be_one_person(report.features, theirs)

    target = same_incident(
        known.recent, report.source, report.occurred_at, report.person_id,
        set(report.probes), margin, one_person,
    )  # fmt: skip
    if report.fatal:
        linked = report.decision is Decision.LINK and report.person_id is not None
        uncertain = () if linked or report.candidate_id is None else (report.candidate_id,)
        return Fatal(death=linked, candidates=uncertain, same_incident_case=target)
    if now - report.occurred_at > program.max_event_age:
        return TooOld()
    if target is not None:
        return JoinCase(target, "same_incident")
    if report.person_id is not None:
        existing = known.open_by_person.get(report.person_id) or known.opened.get(report.person_id)
        if existing is not None:
            case_id, occurred_at = existing
            window = visit_window(report.occurred_at, program.visit_window)
            later = report.occurred_at > occurred_at
            return JoinCase(
                case_id, "repeat_overdose", (window.opens_at, window.due_at) if later else None
            )
    past = known.history.get(report.person_id, []) if report.person_id else []
    window = visit_window(report.occurred_at, program.visit_window)
    tier = tier_for_history(past, program.tiers) if past else Tier.NEW
    return OpenCase(case_id_for_key(report.key), tier, window.opens_at, window.due_at)
