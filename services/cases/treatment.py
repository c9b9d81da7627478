"""Referrals to treatment that is confirmed, as use cases: a member refers the case's
client to one of the program's providers; staff or the provider itself (with its key)
move the referral forward (services/core/treatment.py says which moves); a provider
reads the referrals made to it, and only those. Each runs in one transaction with its
audit row (actor `user:<name>` or `provider:<id>`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypeVar

from schemas.case_views import CaseDetail
from schemas.engagement_views import TreatmentReferralView, TreatmentState
from schemas.person_views import PersonHistory
from schemas.treatment import Provider, ProviderReferralPage, provider_in
from services.core import treatment as states
from services.crypto.fields import FieldCipher
from services.programs import Programs
from services.store import treatment_records as records
from services.store.case_records import audit
from services.store.provider_keys import KeyHolder
from services.store.queue_reads import program_of_case
from services.store.repository import Store

V = TypeVar("V", CaseDetail, PersonHistory)


class TreatmentError(ValueError):
    """A referral the store refuses, with the reason; `status` is its HTTP answer."""

    status = 409


class ReferralNotFound(TreatmentError):
    status = 404

    def __init__(self, referral_id: str) -> None:
        super().__init__(f"no treatment referral {referral_id!r}")


class UnknownProvider(TreatmentError):
    status = 422

    def __init__(self, program_id: str, provider_id: str, providers: list[Provider]) -> None:
        known = ", ".join(p.id for p in providers) or "none ([[program.provider]])"
        super().__init__(f"no provider {provider_id!r} in {program_id}; its providers: {known}")


def provider_of(programs: Programs, program_id: str, provider_id: str) -> Provider:
    program = programs.get(program_id)
    providers = program.providers if program else []
    found = provider_in(providers, provider_id)
    if found is None:
        raise UnknownProvider(program_id, provider_id, providers)
    return found


def refer(store: Store, case_id: str, provider: Provider, *, actor: str, now: datetime) -> str:
    """A new referral of the case's client to `provider`, `referred` now; its id. Refused
    while the case has a referral to that provider still under way."""
    with store.transaction() as conn:
        program_id = program_of_case(conn, case_id)
        if program_id is None:
            raise TreatmentError(f"no case {case_id!r}")
        earlier = records.active_referral_to(conn, case_id, provider.id)
        if earlier is not None:
            raise TreatmentError(
                f"already referred to {provider.name} on {earlier.referred_at:%Y-%m-%d} "
                f"({earlier.state.replace('_', ' ')}); move that referral on instead"
            )
        referral_id = str(uuid.uuid4())
        records.insert_referral(
            conn, referral_id=referral_id, case_id=case_id, program_id=program_id,
            provider_id=provider.id, kind=provider.kind.value, now=now, actor=actor,
        )  # fmt: skip
        audit(conn, now, actor, "treatment_referred", "treatment_referral", referral_id,
              {"case": case_id, "provider": provider.id, "kind": provider.kind.value})  # fmt: skip
    return referral_id


def program_of_referral(store: Store, referral_id: str) -> tuple[str, str] | None:
    """(program id, case id) of a referral, for the caller's rights to be checked."""
    with store.engine.connect() as conn:
        row = records.referral_row(conn, referral_id)
    return None if row is None else (row.program_id, row.case_id)


def move(
    store: Store, referral_id: str, to: TreatmentState, at: datetime | None, *,
    actor: str, now: datetime, holder: KeyHolder | None = None,
) -> bool:  # fmt: skip
    """Move the referral to `to` on `at` (default now); True if it changed, False if it
    was already there. With `holder` (a provider's key) only that provider's referrals
    exist: any other is not found."""
    when = at or now
    with store.transaction() as conn:
        row = records.referral_row(conn, referral_id)
        if row is None or (
            holder is not None
            and (row.program_id, row.provider_id) != (holder.program_id, holder.provider_id)
        ):
            raise ReferralNotFound(referral_id)
        current = TreatmentState(row.state)
        dates = states.Dates(**{name: getattr(row, name) for name in records.DATES})
        verdict = states.decide(current, dates, to, when, now)
        if isinstance(verdict, states.Refused):
            raise TreatmentError(verdict.reason)
        if isinstance(verdict, states.Unchanged):
            return False
        moved = records.move_referral(
            conn, referral_id, from_state=current.value, to_state=to.value,
            column=verdict.column, at=verdict.at, now=now, actor=actor,
        )  # fmt: skip
        if not moved:
            raise TreatmentError(f"referral {referral_id} changed meanwhile; read it again")
        audit(conn, now, actor, "treatment_status", "treatment_referral", referral_id,
              {"case": row.case_id, "from": current.value, "to": to.value,
               "at": verdict.at.isoformat()})  # fmt: skip
    return True


def provider_referrals(
    store: Store, cipher: FieldCipher, holder: KeyHolder, *, state: TreatmentState | None,
    limit: int, offset: int, now: datetime,
) -> ProviderReferralPage:  # fmt: skip
    """The referrals made to the key's provider (the minimum necessary); audited."""
    with store.transaction() as conn:
        page = records.provider_page(
            conn, cipher, holder.program_id, holder.provider_id, state=state, limit=limit,
            offset=offset,
        )  # fmt: skip
        audit(conn, now, holder.actor, "provider_referrals_read", "provider", holder.provider_id,
              {"program": holder.program_id, "referrals": [r.id for r in page.items]})  # fmt: skip
    return page


def _named(
    shown: list[TreatmentReferralView], names: dict[str, str]
) -> list[TreatmentReferralView]:
    return [
        t.model_copy(update={"provider_name": names.get(t.provider_id, t.provider_id)})
        if t.provider_id
        else t
        for t in shown
    ]


def with_provider_names(view: V, programs: Programs) -> V:
    """The referrals of a case's detail or a person's history with their providers' names
    (from the programs file); a referral whose provider is cut stays without one."""
    program = programs.get(view.program_id)
    names = {p.id: p.name for p in program.providers} if program else {}
    if isinstance(view, CaseDetail):
        return view.model_copy(update={"treatment": _named(view.treatment, names)})
    cases = [c.model_copy(update={"treatment": _named(c.treatment, names)}) for c in view.cases]
    return view.model_copy(update={"cases": cases})
