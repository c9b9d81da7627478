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
            from services.accounts.users import usernames

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
