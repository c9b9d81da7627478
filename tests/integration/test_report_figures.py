"""Every figure of a program's report for a known month (tests/integration/report_month.py),
exactly, on SQLite and PostgreSQL; the cut without clinical measures; the figures for
release, of which no hidden count can be worked out from the rest (tests/support_release.py);
and that the report reads nothing a purge of personal data empties."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from sqlalchemy import delete, event, update

from schemas.report import DEFINITIONS, NamedCount, ProgramReport, ReportBy
from services.crypto.fields import FieldCipher
from services.reporting.build import program_report
from services.store import tables as t
from services.store.repository import Store
from tests.integration.report_month import ACCOUNT, GENERATED, PROGRAM, TOKEN, Month, build_month
from tests.support_release import Equation, Shown, problems
from tests.support_twilio import FakeTwilio

OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))


def named(*pairs: tuple[str, Any]) -> list[dict[str, Any]]:
    return [{"name": name, "count": count} for name, count in pairs]


def quantiles(n: int, median: float | None, p90: float | None) -> dict[str, Any]:
    return {"n": n, "median_hours": median, "p90_hours": p90}


OVERDOSES = {
    # 12 reports in October (New York): Fay's police report of Sep 30's incident and Alex's
    # police report 40 min after EMS are second reports: 10 incidents, Emery's and Oct 25's fatal
    "total": 10, "non_fatal": 8, "fatal": 2,
    "by_source": named(("ems", 7), ("police", 5)),
    "by_agency": named(("EX-EMS-01", 5), ("EX-PD-01", 4), ("EX-EMS-02", 2), ("EX-SO-01", 1)),
    # Fay, Alex, Gale, Blair, Casey, Drew, Emery; known before: Fay (Sep 30), Gale (Aug), Drew (Sep)
    "distinct_persons": 7, "persons_new": 4, "persons_known": 3,
}  # fmt: skip
FUNNEL = [
    ("events", 10), ("persons", 7), ("cases", 6),  # C1..C6 (C0, CF, CG, C7: other months)
    ("attempted", 5), ("contacted", 4),  # C4 never attempted; C5 not located
    ("referred", 2), ("entered", 1), ("retained_30d", 1), ("retained_90d", 1),  # C2, C3; C2
]  # fmt: skip
CASES = {
    "opened_by_kind": named(("overdose", 6), ("referral:family", 1), ("family_support", 0)),
    "funnel": [{"step": s, "count": n} for s, n in FUNNEL],
    "attempted": 5, "contacted": 4,
    # first contacts after 80 h (C1), 20 h (C2), 74 h (C3), 11.5 h (C6): two within 72 h of six;
    # C1's window moved with its repeat overdose (due Oct 23): three within the window
    "contacted_within_72h_share": 0.3333, "contacted_within_window_share": 0.5,
    "to_first_attempt": quantiles(5, 21.0, 30.4),  # 11.5, 20, 21, 22, 36 h
    "to_first_contact": quantiles(4, 47.0, 78.2),  # 11.5, 20, 74, 80 h
}  # fmt: skip
CLINICAL = {
    "outcomes": named(
        ("contacted_accepted_treatment", 1), ("contacted_declined_future_interest", 0),
        ("contacted_declined", 0), ("not_located", 1), ("bad_address", 0),
        ("hospitalized_or_in_custody", 0), ("deceased", 0), ("opted_out", 0), ("open", 5),
    ),
    # the visits that referred: C1 detox (Oct 21), C2 moud (Oct 6), R1 transitional support
    "referrals_by_type": named(
        ("detox", 1), ("clinical_stabilization", 0), ("transitional_support", 1), ("moud", 1),
        ("intensive_outpatient", 0), ("grief_resources", 0),
    ),
    "treatment_by_kind": named(
        ("detox", 1), ("moud", 1), ("outpatient", 0), ("residential", 1), ("recovery_housing", 0)
    ),
    "referred": 3, "entered": 2, "retained_30d": 1, "retained_90d": 1,  # C2, C3, R1; C2, R1
    "naloxone_kits": 3,  # C1's Oct 21 visit, C2's, C3's
    "services_left": named(
        ("fentanyl_test_strips", 1), ("harm_reduction_supplies", 1), ("peer_support", 1),
        ("treatment_info", 1), ("family_support", 0), ("other", 0),
    ),
    "needs_top": named(("transportation", 2), ("housing", 1), ("insurance", 1), ("phone", 1)),
    "barriers_top": named(("cost", 1), ("transportation", 1)),
}  # fmt: skip
REPEATS = {
    "persons_two_or_more": 1,  # Alex: Oct 2 and Oct 20 (the police report of Oct 2 is the same)
    # Alex 15 days and Drew 19 days after a contact; Gale 53 days after hers
    "within_30d_after_contact": 2, "within_90d_after_contact": 3,
}  # fmt: skip
# Alex's (not delivered: Twilio said queued, then he said STOP) and Blair's (delivered); Drew's
# of Sep 21 is September's; Casey's failed (21211); Drew's "no" with his report is no opt-out
TEXTS = {"sent": 2, "delivered": 1, "failed": 1, "opted_out": 1}
REJECTIONS = [
    {"agency_id": "EX-EMS-01", "reason": "invalid_event", "count": 2},
    {"agency_id": "EX-PD-01", "reason": "occurred_in_future", "count": 1},
]
DISTRIBUTION = [(0, 12, 1), (12, 24, 1), (24, 48, 0), (48, 72, 0), (72, 168, 2), (168, None, 0)]
BY_TEAM = [
    {"team_id": "evening", "contacted": 2, "to_first_contact": quantiles(2, 77.0, 79.4)},
    {"team_id": "(none)", "contacted": 1, "to_first_contact": quantiles(1, 11.5, 11.5)},
    {"team_id": "day-east", "contacted": 1, "to_first_contact": quantiles(1, 20.0, 20.0)},
]
# Mondays of October's weeks; Fay's Oct 2 contact is a first contact of a September case
WEEKS = [
    ("2026-09-28", 2, 2, 0, 1), ("2026-10-05", 3, 3, 0, 3), ("2026-10-12", 2, 1, 1, 0),
    ("2026-10-19", 2, 1, 1, 0), ("2026-10-26", 1, 1, 0, 0),
]  # fmt: skip


def point(start: str, overdoses: int, non_fatal: int, fatal: int, contacts: int) -> dict[str, Any]:
    return {"start": start, "overdoses": overdoses, "non_fatal": non_fatal, "fatal": fatal,
            "first_contacts": contacts}  # fmt: skip


@pytest.fixture
def month(store: Store, cipher: FieldCipher) -> Iterator[Month]:
    with FakeTwilio(ACCOUNT, TOKEN) as fake:
        yield build_month(store, cipher, fake)


def report_of(store: Store, by: ReportBy = ReportBy.MONTH, **cut: bool) -> ProgramReport:
    options = {"clinical": True, "share": False} | cut
    return program_report(store, PROGRAM, *OCTOBER, by, now=GENERATED, **options)


def test_every_figure_of_a_known_month(month: Month) -> None:
    report = report_of(month.store).model_dump(mode="json")
    assert report == {
        "program_id": "example", "period_from": "2026-10-01", "period_to": "2026-10-31",
        "by": "month", "zone": "America/New_York", "generated_at": "2027-01-10T15:00:00Z",
        "share": False, "clinical": True, "definitions": DEFINITIONS,
        "overdoses": OVERDOSES, "cases": CASES, "clinical_figures": CLINICAL,
        "repeats": REPEATS, "texts": TEXTS, "rejections": REJECTIONS,
        "series": [point("2026-10-01", 10, 8, 2, 4)],
        "contact_time_distribution": [
            {"from_hours": a, "to_hours": b, "count": n} for a, b, n in DISTRIBUTION
        ],
        "by_team": BY_TEAM,
        "spikes": {"alerts": 0, "by_area_kind": [], "by_period": [], "largest": None,
                   "median_size": None, "median_minutes_to_alert": None,
                   "max_minutes_to_alert": None},  # no spike in that month's reports
    }  # fmt: skip


def test_weeks_start_on_monday_in_the_programs_zone(month: Month) -> None:
    weekly = report_of(month.store, ReportBy.WEEK).model_dump(mode="json")
    assert weekly["series"] == [point(*w) for w in WEEKS]
    monthly = report_of(month.store).model_dump(mode="json")
    assert {k: v for k, v in weekly.items() if k not in {"series", "by"}} == {
        k: v for k, v in monthly.items() if k not in {"series", "by"}
    }


def test_without_clinical_measures_nothing_names_treatment_or_a_contacted_result(
    month: Month,
) -> None:
    report = report_of(month.store, clinical=False)
    assert report.clinical is False and report.clinical_figures is None
    assert [s.step for s in report.cases.funnel] == [
        "events", "persons", "cases", "attempted", "contacted",
    ]  # fmt: skip
    text = report.model_dump_json().lower()
    clinical_words = (
        "treatment", "moud", "detox", "residential", "naloxone", "referred", "entered",
        "retained", "accepted", "declined", "fentanyl", "substance", "referral:",
    )  # fmt: skip
    for word in clinical_words:
        assert word not in text, word
    # the referral kinds in one row: Rowan's family referral is a referral, no more
    assert report.cases.opened_by_kind == [
        NamedCount(name="overdose", count=6), NamedCount(name="referral", count=1),
        NamedCount(name="family_support", count=0),
    ]  # fmt: skip
    full = report_of(month.store).model_dump(mode="json")
    cut = report.model_dump(mode="json")
    for same in ("overdoses", "repeats", "texts", "rejections", "series", "by_team"):
        assert cut[same] == full[same], same


def small_counts(value: Any, path: str = "") -> list[str]:
    """Where a number from 1 to 10 stands in a report's JSON."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in small_counts(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in small_counts(v, f"{path}[{i}]")]
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return [path] if is_number and 1 <= value <= 10 else []


def test_figures_for_release_show_no_count_from_1_to_10(month: Month) -> None:
    report = report_of(month.store, share=True)
    dumped = report.model_dump(mode="json")
    assert small_counts(dumped) == []
    assert dumped["overdoses"]["total"] == "<11" and dumped["overdoses"]["by_source"] == named(
        ("ems", "<11"), ("police", "<11")
    )
    assert dumped["clinical_figures"]["outcomes"][1] == {
        "name": "contacted_declined_future_interest", "count": 0,
    }  # fmt: skip
    assert report.cases.contacted_within_72h_share is None
    assert report.cases.to_first_contact.model_dump() == quantiles("<11", None, None)
    assert all(b.to_first_contact.median_hours is None for b in report.by_team)


AGENCY_SOURCE = {
    "EX-EMS-01": "ems",
    "EX-EMS-02": "ems",
    "EX-PD-01": "police",
    "EX-SO-01": "police",
}  # fmt: skip  the known month's agencies send one source
NOT_COUNTS = ("from_hours", "to_hours")


def counts_of(value: Any, path: str = "") -> dict[str, Any]:
    """Every count of a report's JSON by its path (`series[0].fatal`): the whole numbers
    and the markers, less a bin's bounds."""
    if isinstance(value, dict):
        return {p: v for k, inner in value.items() if k not in NOT_COUNTS
                for p, v in counts_of(inner, f"{path}.{k}".strip(".")).items()}  # fmt: skip
    if isinstance(value, list):
        return {p: v for i, inner in enumerate(value)
                for p, v in counts_of(inner, f"{path}[{i}]").items()}  # fmt: skip
    number = isinstance(value, int) and not isinstance(value, bool)
    return {path: value} if number or value in ("<11", ">10") else {}


@dataclass
class Reader:
    """What a reader of shareable figures knows: which counts add up to which (the
    report's definitions), each count's value and how it is shown, and counts the report
    does not show (the reports, the cases of every kind, the first contacts before 72 h
    the 72 h share gives, the treatment referrals) as None, each at least its floor."""

    values: dict[str, Any]
    shown: dict[str, Shown]
    equations: list[Equation] = field(default_factory=list)
    floors: dict[str, str] = field(default_factory=dict)

    def rows(self, path: str) -> list[str]:
        return [k for k in self.values if k.startswith(f"{path}[") and k.endswith(".count")]

    def unshown(self, name: str, parts: list[str], at_least: str | None = None) -> str:
        """What `parts` add up to: `at_least` when they add up to it, else `name`."""
        found = sum(self.values[p] for p in parts)
        if at_least is not None and found == self.values[at_least]:
            return at_least
        self.values[name], self.shown[name] = found, None
        if at_least is not None:
            self.floors[name] = at_least
        return name


def reader_of(full: dict[str, Any], shared: dict[str, Any]) -> Reader:
    values, shown = counts_of(full), counts_of(shared)
    r = Reader(values, {k: v for k, v in shown.items() if k in values})
    r.equations += [
        ("overdoses.total", ["overdoses.non_fatal", "overdoses.fatal"]),
        ("overdoses.distinct_persons", ["overdoses.persons_new", "overdoses.persons_known"]),
    ]
    series = range(len(full["series"]))
    r.equations += [(f"series[{i}].overdoses", [f"series[{i}].non_fatal", f"series[{i}].fatal"])
                    for i in series]  # fmt: skip
    for total, key in (("total", "overdoses"), ("non_fatal", "non_fatal"), ("fatal", "fatal")):
        r.equations.append((f"overdoses.{total}", [f"series[{i}].{key}" for i in series]))
    sources, agencies = r.rows("overdoses.by_source"), r.rows("overdoses.by_agency")
    reports = r.unshown("reports", sources, "overdoses.total")
    r.equations += [(reports, sources), (reports, agencies)]
    sent = [AGENCY_SOURCE[a["name"]] for a in full["overdoses"]["by_agency"]]
    for i, row in enumerate(full["overdoses"]["by_source"]):
        mine = [agencies[j] for j, source in enumerate(sent) if source == row["name"]]
        r.equations.append((sources[i], mine))
    _cases(r, full, shared)
    return r


def _cases(r: Reader, full: dict[str, Any], shared: dict[str, Any]) -> None:
    step = {s["step"]: f"cases.funnel[{i}].count" for i, s in enumerate(full["cases"]["funnel"])}
    kinds = [row["name"] for row in full["cases"]["opened_by_kind"]]
    same = [("overdoses.total", step["events"]), ("overdoses.distinct_persons", step["persons"]),
            (f"cases.opened_by_kind[{kinds.index('overdose')}].count", step["cases"]),
            ("cases.attempted", step["attempted"]), ("cases.contacted", step["contacted"]),
            ("cases.attempted", "cases.to_first_attempt.n"),
            ("cases.contacted", "cases.to_first_contact.n")]  # fmt: skip
    teams = [f"by_team[{i}].contacted" for i in range(len(full["by_team"]))]
    same += [(t, f"by_team[{i}].to_first_contact.n") for i, t in enumerate(teams)]
    r.equations += [(a, [b]) for a, b in same]
    bins = full["contact_time_distribution"]
    counts = [f"contact_time_distribution[{i}].count" for i in range(len(bins))]
    early = [c for c, b in zip(counts, bins, strict=True) if b["to_hours"] and b["to_hours"] <= 72]
    r.unshown("early contacts", early)
    if shared["cases"]["contacted_within_72h_share"] is not None:
        r.shown["early contacts"] = r.values["early contacts"]
    r.equations += [("cases.contacted", counts), ("cases.contacted", teams),
                    ("early contacts", early)]  # fmt: skip
    opened = r.rows("cases.opened_by_kind")
    r.equations.append((r.unshown("every kind", opened), opened))
    if full["clinical_figures"] is not None:
        r.equations.append(("every kind", r.rows("clinical_figures.outcomes")))
        by_kind = r.rows("clinical_figures.treatment_by_kind")
        at_least = "clinical_figures.referred"
        r.equations.append((r.unshown("treatment referrals", by_kind, at_least), by_kind))


@pytest.mark.parametrize(
    ("first", "last", "by", "clinical"),
    [(*OCTOBER, ReportBy.WEEK, True), (date(2026, 1, 1), date(2026, 12, 31), ReportBy.MONTH, True),
     (date(2026, 1, 1), date(2026, 12, 31), ReportBy.MONTH, False)],
)  # fmt: skip
def test_no_hidden_count_of_the_figures_for_release_can_be_worked_out(
    month: Month, first: date, last: date, by: ReportBy, clinical: bool
) -> None:
    """October by week; the year by month, where the month's 12 non-fatal overdoses of 14
    would give the 2 fatal ones: they are hidden too. Checked: every equation holds on the
    full figures; a number shown is the count, <11 one from 1 to 10, >10 one above 10;
    each equation whose total is shown has no hidden part or two or more adding up to more
    than 10; and no hidden count is fixed by the equations together, by linear algebra or
    by the ranges of the others (tests/support_release.py)."""

    def one(share: bool) -> dict[str, Any]:
        made = program_report(month.store, PROGRAM, first, last, by, clinical=clinical,
                              share=share, now=GENERATED)  # fmt: skip
        return made.model_dump(mode="json")

    full, shared = one(False), one(True)
    r = reader_of(full, shared)
    assert len(r.equations) >= 20 and any(isinstance(v, str) for v in r.shown.values())
    assert problems(r.values, r.shown, r.equations, r.floors) == []
    assert small_counts(shared) == []
    if by == ReportBy.MONTH:
        assert (full["overdoses"]["non_fatal"], full["overdoses"]["fatal"]) == (12, 2)
        assert [shared["overdoses"][k] for k in ("total", "non_fatal", "fatal")] == [
            14, ">10", "<11",
        ]  # fmt: skip


def purge_personal_data(store: Store) -> None:
    """What a purge of personal data empties (sealed columns, tokens, contacts), rows kept."""
    with store.transaction() as conn:
        conn.execute(update(t.persons).values(identity_sealed=""))
        conn.execute(delete(t.person_addresses))
        conn.execute(delete(t.person_index))
        conn.execute(
            update(t.events).values(
                patient_sealed=None, scene_sealed=None, scene_tokens=None,
                referral_sealed=None, clinical_sealed=None, phone_token=None,
            )
        )  # fmt: skip
        conn.execute(update(t.attempts).values(notes_sealed=None))
        conn.execute(update(t.sms_texts).values(to_sealed="", phone_token=""))
        conn.execute(update(t.sms_consents).values(phone_token=""))
        conn.execute(update(t.sms_replies).values(body_sealed=None, phone_token=""))
        conn.execute(update(t.case_contacts).values(contact_sealed="", phone_token=None))


def test_the_report_reads_no_personal_data_and_survives_its_purge(month: Month) -> None:
    statements: list[str] = []

    def keep(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lower())

    event.listen(month.store.engine, "before_cursor_execute", keep)
    try:
        before = report_of(month.store).model_dump(mode="json")
    finally:
        event.remove(month.store.engine, "before_cursor_execute", keep)
    assert statements
    for statement in statements:
        for forbidden in ("_sealed", "phone_token", "person_index", "person_addresses",
                          "case_contacts", "sms_replies", "persons"):  # fmt: skip
            assert forbidden not in statement, (forbidden, statement)
    purge_personal_data(month.store)
    assert report_of(month.store).model_dump(mode="json") == before
