"""Referrals to treatment in the store (`treatment_referrals`): written, moved forward
(only from the state read, so two writers at once cannot both move it), and read as a
case's detail shows them, as the CSV exports them and as their provider may see them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from schemas.engagement_views import TreatmentReferralView, TreatmentState
from schemas.treatment import ProviderReferral, ProviderReferralPage
from services.crypto.fields import FieldCipher
from services.store import person_records
from services.store.queue_reads import storable_id
from services.store.tables import cases, persons, treatment_referrals

ACTIVE = (TreatmentState.REFERRED, TreatmentState.ENTERED, TreatmentState.RETAINED_30D)
DATES = ("referred_at", "entered_at", "retained_30d_at", "retained_90d_at", "ended_at")
# the CSV's treatment columns: the case's latest referral, and how many it has
EXPORT_COLUMNS = [
    "treatment_state", "treatment_kind", "treatment_provider", "treatment_referred_at",
    "treatment_entered_at", "treatment_retained_30d_at", "treatment_retained_90d_at",
    "treatment_ended_at", "treatment_referrals",
]  # fmt: skip


def insert_referral(
    conn: Connection, *, referral_id: str, case_id: str, program_id: str, provider_id: str,
    kind: str, now: datetime, actor: str,
) -> None:  # fmt: skip
    conn.execute(
        treatment_referrals.insert().values(
            id=referral_id,
            case_id=case_id,
            program_id=program_id,
            provider_id=provider_id,
            kind=kind,
            state=TreatmentState.REFERRED.value,
            referred_at=now,
            updated_at=now,
            updated_by=actor,
        )
    )


def active_referral_to(conn: Connection, case_id: str, provider_id: str) -> Any:
    """The case's referral to this provider still under way (referred, entered, retained
    30 days), if any."""
    return conn.execute(
        select(treatment_referrals).where(
            treatment_referrals.c.case_id == case_id,
            treatment_referrals.c.provider_id == provider_id,
            treatment_referrals.c.state.in_([s.value for s in ACTIVE]),
        )
    ).first()


def referral_row(conn: Connection, referral_id: str) -> Any:
    if not storable_id(referral_id):
        return None
    return conn.execute(
        select(treatment_referrals).where(treatment_referrals.c.id == referral_id)
    ).first()


def move_referral(
    conn: Connection, referral_id: str, *, from_state: str, to_state: str, column: str,
    at: datetime, now: datetime, actor: str,
) -> bool:  # fmt: skip
    """Move the referral if it is still in `from_state`; False when another writer moved
    it first."""
    done = conn.execute(
        update(treatment_referrals)
        .where(treatment_referrals.c.id == referral_id, treatment_referrals.c.state == from_state)
        .values({"state": to_state, column: at, "updated_at": now, "updated_by": actor})
    ).rowcount
    return bool(done == 1)


def _view(r: Any, clinical: bool) -> TreatmentReferralView:
    """A row as the case's detail shows it; where and what kind only with clinical sight."""
    return TreatmentReferralView(
        id=r.id,
        provider_id=r.provider_id if clinical else None,
        kind=r.kind if clinical else None,
        state=TreatmentState(r.state),
        **{name: getattr(r, name) for name in DATES},
    )


def treatment_views(
    conn: Connection, case_ids: Sequence[str], *, clinical: bool
) -> dict[str, list[TreatmentReferralView]]:
    """Each case's referrals, oldest first."""
    found: dict[str, list[TreatmentReferralView]] = {c: [] for c in case_ids}
    if not case_ids:
        return found
    rows = conn.execute(
        select(treatment_referrals)
        .where(treatment_referrals.c.case_id.in_(list(case_ids)))
        .order_by(treatment_referrals.c.referred_at, treatment_referrals.c.id)
    ).all()
    for r in rows:
        found[r.case_id].append(_view(r, clinical))
    return found


def export_columns(conn: Connection, case_ids: Sequence[str]) -> dict[str, tuple[object, ...]]:
    """The CSV's treatment columns (EXPORT_COLUMNS) of each case: its latest referral."""
    empty: tuple[object, ...] = (None,) * (len(EXPORT_COLUMNS) - 1) + (0,)
    out = dict.fromkeys(case_ids, empty)
    views = treatment_views(conn, case_ids, clinical=True)
    for case_id, shown in views.items():
        if not shown:
            continue
        last = shown[-1]
        dates = [getattr(last, name) for name in DATES]
        out[case_id] = (
            last.state.value if last.state else None, last.kind, last.provider_id,
            *(d.isoformat() if d else None for d in dates), len(shown),
        )  # fmt: skip
    return out


def provider_page(
    conn: Connection, cipher: FieldCipher, program_id: str, provider_id: str, *,
    state: TreatmentState | None, limit: int, offset: int,
) -> ProviderReferralPage:  # fmt: skip
    """The referrals made to one provider, newest first, with the least it needs to
    recognise the client: the first name and date of birth (opened for these alone)."""
    conds = [
        treatment_referrals.c.program_id == program_id,
        treatment_referrals.c.provider_id == provider_id,
    ]
    if state is not None:
        conds.append(treatment_referrals.c.state == state.value)
    total = conn.execute(
        select(func.count()).select_from(treatment_referrals).where(*conds)
    ).scalar_one()
    rows = conn.execute(
        select(treatment_referrals, persons.c.id.label("person_id"), persons.c.identity_sealed)
        .join(cases, cases.c.id == treatment_referrals.c.case_id)
        .outerjoin(persons, persons.c.id == cases.c.person_id)
        .where(*conds)
        .order_by(treatment_referrals.c.referred_at.desc(), treatment_referrals.c.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return ProviderReferralPage(total=total, items=[_for_provider(cipher, r) for r in rows])


def _for_provider(cipher: FieldCipher, r: Any) -> ProviderReferral:
    identity: dict[str, Any] = {}
    if r.person_id and r.identity_sealed:
        identity = person_records.open_identity(cipher, r.person_id, r.identity_sealed)
    return ProviderReferral(
        id=r.id,
        state=TreatmentState(r.state),
        first_name=identity.get("first_name"),
        dob=identity.get("dob"),
        **{name: getattr(r, name) for name in DATES},
    )
