"""Who is this? Resolving the person of each event of a batch, for one program.

One blind-index query and one decryption pass per batch; after that every
decision is made in memory, including against persons created earlier in the
same batch. Decisions (services/identity/matching.py): `link` to a known person
on strong agreement; `review` opens a new person for the event and records the
uncertain candidate for a person to decide (link, don't merge destructively);
`new` opens a new person. Events without identifying data have no person.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from schemas.overdose_event import Patient
from services.crypto.fields import FieldCipher
from services.identity.blocking import blind_tokens
from services.identity.features import NameMemo
from services.identity.matching import (
    Decision,
    MatchScore,
    PersonFeatures,
    Thresholds,
    best_match,
    features_from_patient,
)
from services.store.person_records import (
    identity_of,
    load_identities,
    merged_identity,
    persons_by_tokens,
    seal_identity,
)

PERSON_NAMESPACE = uuid.UUID("0b6c3a52-3d3e-4c55-8f1e-6a0d2f8b9c11")


def person_id_for(event_key: str) -> str:
    """The person an event opens is named after the event: a replay names the same one."""
    return str(uuid.uuid5(PERSON_NAMESPACE, event_key))


@dataclass(frozen=True)
class Resolution:
    person_id: str | None
    decision: Decision | None
    candidate_id: str | None = None
    score: MatchScore | None = None


@dataclass
class PersonResolver:
    conn: Connection
    cipher: FieldCipher
    program_id: str
    thresholds: Thresholds
    now: datetime
    token_index: dict[str, set[str]] = field(default_factory=dict)
    identities: dict[str, dict[str, Any]] = field(default_factory=dict)
    features: dict[str, PersonFeatures] = field(default_factory=dict)
    new_persons: list[dict[str, object]] = field(default_factory=list)
    new_tokens: list[dict[str, object]] = field(default_factory=list)
    changed_identities: dict[str, dict[str, Any]] = field(default_factory=dict)
    # id(patient) -> (the patient, its features, its blind tokens): derived once a report
    _derived: dict[int, tuple[Patient, PersonFeatures, list[tuple[str, str]]]] = field(
        default_factory=dict
    )
    _names: NameMemo = field(default_factory=dict)  # the batch's names, normalised and coded

    def _features(self, identity: dict[str, Any]) -> PersonFeatures:
        return features_from_patient(Patient.model_validate(identity), self._names)

    def tokens(self, features: PersonFeatures) -> list[tuple[str, str]]:
        return blind_tokens(self.cipher.blind, features)

    def _derive(self, patient: Patient | None) -> tuple[PersonFeatures, list[tuple[str, str]]]:
        """The report's features and blind tokens, computed once however often asked."""
        if patient is None:
            return PersonFeatures(), []
        known = self._derived.get(id(patient))
        if known is not None and known[0] is patient:
            return known[1], known[2]
        features = features_from_patient(patient, self._names)
        tokens = self.tokens(features)
        self._derived[id(patient)] = (patient, features, tokens)
        return features, tokens

    def features_of(self, patient: Patient | None) -> PersonFeatures:
        """`features_from_patient(patient)`, as `prefetch` derived it."""
        return self._derive(patient)[0]

    def prefetch(self, patients: list[Patient | None]) -> None:
        wanted = {t for p in patients for _, t in self._derive(p)[1]}
        self.token_index = persons_by_tokens(self.conn, self.program_id, wanted)
        known = set().union(*self.token_index.values()) if self.token_index else set()
        self.identities = load_identities(self.conn, self.cipher, known)
        self.features = {pid: self._features(ident) for pid, ident in self.identities.items()}

    def load_features(self, person_ids: set[str]) -> None:
        """Open the features of these persons of the program too (one query)."""
        missing = sorted(person_ids - set(self.features))
        for pid, ident in load_identities(self.conn, self.cipher, missing).items():
            self.features[pid] = self._features(ident)

    @property
    def known_person_ids(self) -> set[str]:
        return set(self.identities) - {str(p["id"]) for p in self.new_persons}

    def _index(self, person_id: str, tokens: list[tuple[str, str]]) -> None:
        for kind, token in tokens:
            holders = self.token_index.setdefault(token, set())
            if person_id not in holders:
                holders.add(person_id)
                self.new_tokens.append(
                    {
                        "program_id": self.program_id,
                        "kind": kind,
                        "token": token,
                        "person_id": person_id,
                    }
                )

    def resolve(self, patient: Patient | None, event_key: str) -> Resolution:
        features, tokens = self._derive(patient)
        if patient is None or features.is_empty:
            return Resolution(None, None)
        candidates = sorted({pid for _, t in tokens for pid in self.token_index.get(t, ())})
        decision, best, score = best_match(
            features, [(pid, self.features[pid]) for pid in candidates], self.thresholds
        )
        identity = identity_of(patient)
        if decision is Decision.LINK and best is not None:
            merged = merged_identity(self.identities[best], identity)
            if merged != self.identities[best]:
                self.identities[best] = merged
                self.changed_identities[best] = merged
                self.features[best] = self._features(merged)
            self._index(best, tokens)
            return Resolution(best, decision, None, score)
        person_id = person_id_for(event_key)
        if person_id not in self.identities:
            self.identities[person_id] = identity
            self.features[person_id] = features
            self.new_persons.append(
                {
                    "id": person_id,
                    "program_id": self.program_id,
                    "identity_sealed": seal_identity(self.cipher, person_id, identity),
                    "created_at": self.now,
                    "updated_at": self.now,
                }
            )
        self._index(person_id, tokens)
        candidate = best if decision is Decision.REVIEW else None
        return Resolution(person_id, decision, candidate, score)
