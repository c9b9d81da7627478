"""What the API and the case page both do to add or remove a contact of a case: check
the caller (a role that may record), the phone and the words, call
services/cases/contacts.py, and turn its refusals into HTTP answers."""

from __future__ import annotations

from fastapi import HTTPException

from schemas.contacts import ContactChange, ContactCreate
from services.accounts.roles import Capability
from services.api.auth import Caller
from services.api.case_actions import call, case_program
from services.api.errors import storable_text
from services.bootstrap import Context
from services.cases import contacts
from services.sms import consent


def add(
    ctx: Context, caller: Caller, case_id: str, body: ContactCreate, expected_version: int | None
) -> ContactChange:
    program_id = case_program(ctx, caller, case_id, Capability.RECORD)
    program = ctx.programs.get(program_id)
    if program is None:
        raise HTTPException(status_code=404, detail=f"no program {program_id!r}")
    storable_text("name", body.name)
    phone = None
    if body.phone:
        phone = consent.e164(storable_text("phone", body.phone))
        if phone is None:
            raise HTTPException(
                status_code=422, detail="`phone` is not a phone number (a US number or +E.164)"
            )
    new = contacts.NewContact(body.name, body.relation, phone, body.sms_consent)
    try:
        done = call(
            contacts.add_contact, ctx.store, ctx.cipher, program, case_id, new,
            actor=caller.principal.actor, now=ctx.clock(), expected_version=expected_version,
        )  # fmt: skip
    except contacts.ContactRefused as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return ContactChange(case_id=case_id, contact_id=done.contact_id, version=done.version)


def remove(
    ctx: Context, caller: Caller, case_id: str, contact_id: int, expected_version: int | None
) -> ContactChange:
    case_program(ctx, caller, case_id, Capability.RECORD)
    try:
        done = call(
            contacts.remove_contact, ctx.store, case_id, contact_id,
            actor=caller.principal.actor, now=ctx.clock(), expected_version=expected_version,
        )  # fmt: skip
    except contacts.ContactNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    return ContactChange(case_id=case_id, contact_id=contact_id, version=done.version, removed=True)
