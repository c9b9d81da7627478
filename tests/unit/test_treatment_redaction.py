"""The one cut (services/accounts/redaction.py) of referrals to treatment: a role without
clinical sight keeps that a referral was made, its state and dates; never the provider
nor the kind of treatment. A program manager keeps all of it."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.accounts import Role
from schemas.case_views import CaseDetail
from schemas.cases import CaseStatus, Tier
from schemas.engagement_views import TreatmentReferralView, TreatmentState
from schemas.person_views import PersonCase, PersonHistory
from services.accounts.redaction import redact
from services.accounts.roles import Principal

AT = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
REFERRAL = TreatmentReferralView(
    id="r-1", provider_id="harbor-moud", provider_name="Harbor Medication Clinic",
    kind="moud", state=TreatmentState.ENTERED, referred_at=AT, entered_at=AT,
)  # fmt: skip


def _who(role: Role) -> Principal:
    return Principal(user_id="u", username="u", roles={"example": role})


def _detail() -> CaseDetail:
    return CaseDetail(
        case_id="c-1", program_id="example", version=1, status=CaseStatus.OPEN,
        tier=Tier.NEW, occurred_at=AT, window_opens_at=AT, window_due_at=AT,
        reports=[], attempts=[], treatment=[REFERRAL],
    )  # fmt: skip


def test_law_enforcement_sees_that_a_referral_was_made_and_when() -> None:
    (cut,) = redact(_detail(), _who(Role.LAW_ENFORCEMENT), "example").treatment
    assert (cut.provider_id, cut.provider_name, cut.kind) == (None, None, None)
    assert (cut.id, cut.referred_at) == ("r-1", AT)
    assert (cut.state, cut.entered_at, cut.retained_30d_at, cut.ended_at) == (None,) * 4
    history = PersonHistory(
        person_id="p", program_id="example", overdoses=[], texts=[], reviews=[],
        cases=[PersonCase(case_id="c-1", status=CaseStatus.OPEN, tier=Tier.NEW,
                          occurred_at=AT, window_due_at=AT, treatment=[REFERRAL])],
    )  # fmt: skip
    (case,) = redact(history, _who(Role.LAW_ENFORCEMENT), "example").cases
    assert case.treatment[0].kind is None and case.treatment[0].entered_at is None
    assert case.treatment[0].referred_at == AT
    assert "moud" not in case.model_dump_json() and "Harbor" not in case.model_dump_json()


def test_clinical_roles_see_the_provider_and_kind() -> None:
    for role in (Role.PROGRAM_MANAGER, Role.OUTREACH, Role.COORDINATOR):
        assert redact(_detail(), _who(role), "example").treatment == [REFERRAL]
