"""Least privilege: what each role may do, and the person asking (`Principal`).

| capability    | coordinator | outreach | law_enforcement | program_manager | admin |
|---------------|:-:|:-:|:-:|:-:|:-:|
| view_queue    | x | x | x | x | x |
| view_person   | x | x | x |   | x |
| view_clinical | x | x |   | x | x |
| claim         | x | x | x |   | x |
| assign        | x |   |   |   | x |
| record        | x | x | x |   | x |
| review        | x |   |   |   | x |
| export        | x |   |   | x | x |
| manage_users  |   |   |   |   | x |

Law-enforcement members never see substances, disposition, naloxone, referrals
or which contacted result an attempt had (42 CFR Part 2); program managers see
outcomes, never identities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from schemas.accounts import ALL_PROGRAMS, Role


class Capability(StrEnum):
    VIEW_QUEUE = "view_queue"
    VIEW_PERSON = "view_person"
    VIEW_CLINICAL = "view_clinical"
    CLAIM = "claim"
    ASSIGN = "assign"
    RECORD = "record"
    REVIEW = "review"
    EXPORT = "export"
    MANAGE_USERS = "manage_users"


C = Capability
CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role.ADMIN: frozenset(Capability),
    Role.COORDINATOR: frozenset(Capability) - {C.MANAGE_USERS},
    Role.OUTREACH: frozenset({C.VIEW_QUEUE, C.VIEW_PERSON, C.VIEW_CLINICAL, C.CLAIM, C.RECORD}),
    Role.LAW_ENFORCEMENT: frozenset({C.VIEW_QUEUE, C.VIEW_PERSON, C.CLAIM, C.RECORD}),
    Role.PROGRAM_MANAGER: frozenset({C.VIEW_QUEUE, C.VIEW_CLINICAL, C.EXPORT}),
}


@dataclass(frozen=True)
class Principal:
    """A signed-in user and their role in each program ("*": every program)."""

    user_id: str
    username: str
    roles: dict[str, Role] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        """How the audit log names this user."""
        return f"user:{self.username}"

    def role_in(self, program_id: str) -> Role | None:
        return self.roles.get(program_id) or self.roles.get(ALL_PROGRAMS)

    def can(self, program_id: str, capability: Capability) -> bool:
        role = self.role_in(program_id)
        return role is not None and capability in CAPABILITIES[role]

    def programs(self, known: list[str]) -> list[str]:
        """The programs (of `known`) this user is a member of."""
        if ALL_PROGRAMS in self.roles:
            return list(known)
        return [p for p in known if p in self.roles]
