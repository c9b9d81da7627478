"""One case, one owner: claim, assign, release (the spreadsheet's classic failure is
two teams visiting the same person). Versions guard against lost updates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from schemas.cases import CaseEventKind
from services.cases.visits import VisitRecordError, open_case_for_change
from services.store.case_records import announce, audit
from services.store.repository import Store
from services.store.tables import cases


class NotAMember(VisitRecordError):
    """The same words whether the user does not exist, is disabled, or is not a member
    who may take cases in the program: nobody learns which usernames exist."""

    def __init__(self, username: str, program_id: str) -> None:
        super().__init__(f"{username!r} is not a member of {program_id} who can take cases")


def member_who_can_own(store: Store, username: str, program_id: str) -> str:
    """The user id of `username` if they may own a case of the program (a member whose
    role there can claim), else NotAMember."""
    from services.accounts.roles import Capability
    from services.accounts.users import principal_of
    from services.store.user_reads import user_id_of

    with store.engine.connect() as conn:
        user_id = user_id_of(conn, username)
        principal = principal_of(conn, user_id) if user_id else None
    if user_id is None or principal is None or principal.role_in(program_id) is None:
        raise NotAMember(username, program_id)
    if not principal.can(program_id, Capability.CLAIM):
        raise NotAMember(username, program_id)
    return user_id


def members_who_can_own(store: Store, program_id: str) -> list[str]:
    """The usernames a coordinator may assign a case of the program to (enabled members
    whose role there can claim), by name."""
    from services.accounts.roles import CAPABILITIES, Capability
    from services.accounts.users import list_users

    return [
        u.username
        for u in list_users(store)
        if not u.disabled
        and any(
            m.program_id in (program_id, "*") and Capability.CLAIM in CAPABILITIES[m.role]
            for m in u.memberships
        )
    ]


class AlreadyOwned(VisitRecordError):
    def __init__(self, case_id: str, owner: str) -> None:
        self.owner = owner
        super().__init__(f"case {case_id} is already owned by {owner}; ask a coordinator")


def change_owner(
    store: Store,
    case_id: str,
    *,
    owner_id: str | None,
    owner_name: str | None,
    team_id: str | None,
    shift_start: datetime | None,
    take_over: bool,
    expected_version: int | None,
    acting_user_id: str,
    actor: str,
    now: datetime,
) -> int:
    """Set (or with None, release) the case's owner; the case's new version.

    Without `take_over` (a claim or a release), a case another member owns is refused."""
    with store.transaction() as conn:
        row = open_case_for_change(conn, case_id, expected_version)
        current = row.owner_user_id
        if current and current not in (owner_id, acting_user_id) and not take_over:
            from services.store.user_reads import usernames

            raise AlreadyOwned(case_id, usernames(conn, [current]).get(current, current))
        conn.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(
                owner_user_id=owner_id,
                owned_at=now if owner_id else None,
                assigned_team_id=team_id,
                assigned_shift_start=shift_start,
                updated_at=now,
                version=cases.c.version + 1,
            )
        )
        detail: dict[str, str | int | float | None] = {
            "owner": owner_name,
            "team_id": team_id,
            "shift_start": shift_start.isoformat() if shift_start else None,
        }
        announce(conn, case_id, CaseEventKind.ASSIGNED, now, detail)
        audit(conn, now, actor, "owner_set" if owner_id else "owner_released", "case", case_id,
              dict(detail))  # fmt: skip
        return int(row.version) + 1
