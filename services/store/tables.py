"""SQL tables of the system of record.

Personal data (names, DOB, phone, addresses) is only ever stored sealed
(`*_sealed` columns, AES-GCM, see services/crypto) and matched through keyed
blind-index tokens (`person_index`); no column holds it in plaintext.

The accounts' tables live in tables_accounts.py, those of referrals, contacts and
treatment in tables_engagement.py, the retention job's in tables_retention.py, the spike worker's in
tables_spikes.py; every
table is importable from here.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from services.store.table_base import UTCDateTime, metadata

cases = Table(
    "cases",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("program_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("tier_rank", Integer, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("window_opens_at", UTCDateTime, nullable=False),
    Column("window_due_at", UTCDateTime, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("person_id", String(36), ForeignKey("persons.id"), nullable=True, index=True),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("at_risk_reason", String(32), nullable=True),
    Column("missed_at", UTCDateTime, nullable=True),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("outcome", String(48), nullable=True),
    Column("referral", String(48), nullable=True),
    Column("first_attempt_at", UTCDateTime, nullable=True),
    Column("first_contact_at", UTCDateTime, nullable=True),
    Column("planned_team_id", String(64), nullable=True),
    Column("planned_shift_start", UTCDateTime, nullable=True),
    Column("planned_visit_from", UTCDateTime, nullable=True),
    Column("planned_visit_until", UTCDateTime, nullable=True),
    Column("callback_requested_at", UTCDateTime, nullable=True),
    Column("phone_invalid_at", UTCDateTime, nullable=True),
    # one owner per case (claim / assign); the coordinator's team and shift, if set
    Column("owner_user_id", String(36), nullable=True),
    Column("owned_at", UTCDateTime, nullable=True),
    Column("assigned_team_id", String(64), nullable=True),
    Column("assigned_shift_start", UTCDateTime, nullable=True),
    # a fatal report that may be this person (a review match, or the same scene): to confirm
    Column("possible_death_at", UTCDateTime, nullable=True),
    Column("possible_death_event_id", Integer, nullable=True),
    Column("merged_into", String(36), nullable=True),  # outcome merged_into: the survivor
    # overdose | referral | family_support; a referral's kind (self, family, walk_in, ...)
    Column("kind", String(24), nullable=False, server_default="overdose"),
    Column("referral_kind", String(16), nullable=True),
    # engaged: the client stays in touch; the team's next check-in (planned like a window)
    Column("engaged_at", UTCDateTime, nullable=True),
    Column("next_checkin_at", UTCDateTime, nullable=True),
    Column("checkin_every_days", Integer, nullable=True),  # the cadence, if one was set
    Index(
        "ix_cases_queue", "program_id", "status", "tier_rank", "window_due_at", "occurred_at", "id"
    ),
    Index("ix_cases_owner", "program_id", "owner_user_id"),
    Index("ix_cases_program_time", "program_id", "occurred_at"),  # the program report
    Index(  # the incremental planner reads a program's placed cases (a few of its open ones)
        "ix_cases_planned",
        "program_id",
        "planned_team_id",
        sqlite_where=text("planned_team_id IS NOT NULL"),
        postgresql_where=text("planned_team_id IS NOT NULL"),
    ),
)

persons = Table(
    "persons",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("program_id", String(64), nullable=False, index=True),
    Column("identity_sealed", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

person_addresses = Table(
    "person_addresses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("person_id", String(36), ForeignKey("persons.id"), nullable=False, index=True),
    Column("address_sealed", Text, nullable=False),
    Column("source", String(16), nullable=False),
    Column("event_row_id", Integer, nullable=True),
    Column("observed_at", UTCDateTime, nullable=False),
)

person_index = Table(
    "person_index",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("program_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("token", String(64), nullable=False),
    Column("person_id", String(36), ForeignKey("persons.id"), nullable=False, index=True),
    UniqueConstraint("program_id", "kind", "token", "person_id", name="uq_person_index_entry"),
    Index("ix_person_index_token", "program_id", "token", "person_id"),
)

match_reviews = Table(
    "match_reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("program_id", String(64), nullable=False),
    Column("event_row_id", Integer, ForeignKey("events.id"), nullable=False),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=True),
    Column("person_id", String(36), ForeignKey("persons.id"), nullable=True),
    Column("candidate_person_id", String(36), ForeignKey("persons.id"), nullable=False),
    Column("score", Float, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("resolved_by", String(64), nullable=True),
    Index("ix_match_reviews_open", "program_id", "status"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False),
    Column("attempt_no", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("team_id", String(64), nullable=True),
    Column("result", String(48), nullable=False),
    Column("referral", String(48), nullable=True),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Column("method", String(16), nullable=True),  # in_person, phone, text, materials_left
    Column("notes_sealed", Text, nullable=True),  # clinical-grade: cut like clinical facts
    # space-separated words of the program's vocabularies
    Column("needs", String(400), nullable=True),
    Column("barriers", String(400), nullable=True),
    Column("services", String(400), nullable=True),
    Column("people_met", String(400), nullable=True),
    Column("contact_id", Integer, nullable=True),  # an attempt made to a contact of the case
    UniqueConstraint("case_id", "attempt_no", name="uq_attempts_case_attempt_no"),
)

timers = Table(
    "timers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False),
    Column("program_id", String(64), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("fired_at", UTCDateTime, nullable=True),
    Column("failed_reason", String(200), nullable=True),  # set aside: could not fire
    UniqueConstraint("case_id", "kind", name="uq_timers_case_kind"),
    Index("ix_timers_due", "fired_at", "due_at"),
)

program_state = Table(
    "program_state",
    metadata,
    Column("program_id", String(64), primary_key=True),
    Column("plan_requested_at", UTCDateTime, nullable=True),
    Column("planned_at", UTCDateTime, nullable=True),
    # what the stored plan was made with (teams, zone: services/planning/incremental.py)
    Column("plan_basis", String(64), nullable=True),
)

# The change log of the planner's inputs, written by the database itself: triggers on
# `cases` (migration 0017) add a row in the transaction of every insert, delete, and change
# of program, status, tier rank, window, overdose time or missed time, with the case's
# state before it (was it placed by the stored plan, and its priority key). The planner
# reads its program's rows and deletes them in the transaction of its plan.
plan_changes = Table(
    "plan_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("program_id", String(64), nullable=False, index=True),
    Column("case_id", String(36), nullable=False),
    Column("was_placed", Boolean, nullable=False),
    Column("old_tier_rank", Integer, nullable=True),  # the key before: null for an insert
    Column("old_due_at", UTCDateTime, nullable=True),
    Column("old_occurred_at", UTCDateTime, nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(48), nullable=False),
    Column("subject_type", String(24), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_audit_log_subject", "subject_type", "subject_id"),
    Index("ix_audit_log_at", "at"),  # the retention job removes the oldest
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("program_id", String(64), nullable=False),
    Column("source", String(16), nullable=False),
    Column("agency_id", String(64), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("incident_number", String(64), nullable=True),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("fatal", Boolean, nullable=False),
    Column("handling", String(32), nullable=False),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=True, index=True),
    Column("origin_topic", String(255), nullable=False),
    Column("origin_partition", Integer, nullable=False),
    Column("origin_offset", Integer, nullable=False),
    Column("person_id", String(36), ForeignKey("persons.id"), nullable=True, index=True),
    Column("patient_sealed", Text, nullable=True),
    Column("scene_tokens", String(200), nullable=True),
    Column("scene_sealed", Text, nullable=True),  # the place (address, lat/lon, description)
    Column("referral_sealed", Text, nullable=True),  # who referred, urgency, notes (referrals)
    Column("phone_token", String(64), nullable=True),  # blind index of the patient's phone
    # substances, disposition, naloxone: sealed; never shown to law-enforcement members
    Column("clinical_sealed", Text, nullable=True),
    Column("match_decision", String(16), nullable=True),
    UniqueConstraint("source", "agency_id", "event_id", name="uq_events_publisher_event_id"),
    UniqueConstraint("source", "agency_id", "incident_number", name="uq_events_incident"),
    Index("ix_events_program_time", "program_id", "occurred_at"),  # the program report
    # each of the (at most two) scene tokens: the case worker's same-scene lookup
    Index("ix_events_scene_first", text("substr(scene_tokens, 1, 32)")),
    Index("ix_events_scene_second", text("substr(scene_tokens, 34, 32)")),
)

case_events = Table(
    "case_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("program_id", String(64), nullable=False),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime, nullable=True),
    Index("ix_case_events_unpublished", "published_at", "seq"),
)


# --- text check-ins (services/sms) -------------------------------------------------
# Phone numbers sealed and found through `phone_token` (HMAC of the E.164 number);
# reply bodies sealed; outbound bodies come from the generic templates only.

sms_consents = Table(
    "sms_consents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("program_id", String(64), nullable=False),
    Column("phone_token", String(64), nullable=False),
    Column("person_id", String(36), ForeignKey("persons.id"), nullable=True),
    Column("granted", Boolean, nullable=False),
    Column("source", String(32), nullable=False),
    Column("case_id", String(36), nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_sms_consents_phone", "program_id", "phone_token", "id"),
    Index("ix_sms_consents_person", "person_id"),
)

sms_texts = Table(
    "sms_texts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(160), nullable=False, unique=True),
    Column("program_id", String(64), nullable=False),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=True, index=True),
    Column("person_id", String(36), nullable=True),
    Column("phone_token", String(64), nullable=False),
    Column("to_sealed", Text, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("language", String(3), nullable=False),
    Column("body", Text, nullable=False),
    Column("contact_id", Integer, nullable=True),  # a text to a contact, not to the client
    Column("zone", String(64), nullable=False),
    Column("state_code", String(2), nullable=True),
    Column("state", String(16), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("send_after", UTCDateTime, nullable=False),
    Column("tries", Integer, nullable=False, server_default="0"),
    Column("sending_since", UTCDateTime, nullable=True),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("final_at", UTCDateTime, nullable=True),
    Column("twilio_sid", String(64), nullable=True, unique=True),
    Column("twilio_status", String(16), nullable=True),
    Column("error_code", Integer, nullable=True),
    Column("reason", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_sms_texts_due", "state", "send_after"),
    Index("ix_sms_texts_phone_token", "phone_token"),
)

sms_replies = Table(
    "sms_replies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_sid", String(64), nullable=False, unique=True),
    Column("phone_token", String(64), nullable=False, index=True),
    Column("program_id", String(64), nullable=True),
    Column("case_id", String(36), nullable=True),
    Column("keyword", String(16), nullable=True),
    Column("body_sealed", Text, nullable=True),
    Column("received_at", UTCDateTime, nullable=False),
)

sms_statuses = Table(
    "sms_statuses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_sid", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_code", Integer, nullable=True),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("message_sid", "status", name="uq_sms_statuses_sid_status"),
)

sms_outbox = Table(
    "sms_outbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(64), nullable=False),
    Column("key", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime, nullable=True),
    Index("ix_sms_outbox_unpublished", "published_at", "seq"),
)


# --- the HTTP ingest gateway (services/ingest/gateway.py) ---------------------------

agency_keys = Table(
    "agency_keys",
    metadata,
    Column("key_hash", String(64), primary_key=True),  # SHA-256 of the key; the key is not kept
    Column("agency_id", String(64), nullable=False, index=True),
    Column("label", String(100), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)


# The gateway's inbox on the embedded default (services/ingest/inbox.py): accepted events,
# sealed, until the case worker has stored them.
gateway_inbox = Table(
    "gateway_inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(16), nullable=False),
    Column("agency_id", String(64), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("event_sealed", Text, nullable=False),
    Column("accepted_at", UTCDateTime, nullable=False),
    Column("tries", Integer, nullable=False),
    Column("last_sent_at", UTCDateTime, nullable=True),
    UniqueConstraint("source", "agency_id", "event_id", name="uq_gateway_inbox_event"),
)


# Rate limits (services/accounts/rate_limits.py): one token bucket per key
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("limited_since", UTCDateTime, nullable=True),  # the first refusal of this window
)


rejections = Table(
    "rejections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("letter_key", String(64), nullable=False, unique=True),  # keyed hash: once
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("field_errors", Text, nullable=False),  # JSON: [{field, message, type}]
    Column("agency_id", String(64), nullable=True),
    Column("source", String(16), nullable=True),
    Column("program_id", String(64), nullable=True),  # the agency's (or county's) program
    Column("origin_topic", String(255), nullable=True),
    Column("origin_partition", Integer, nullable=True),
    Column("origin_offset", Integer, nullable=True),
    Column("rejected_at", UTCDateTime, nullable=False, index=True),
    Column("stored_at", UTCDateTime, nullable=False),
    Column("original_size", Integer, nullable=False),
    Column("original_sealed", Text, nullable=False),
    Index("ix_rejections_program", "program_id", "rejected_at"),
)


from services.store.tables_accounts import api_tokens, user_roles, users, web_sessions  # noqa: E402
from services.store.tables_engagement import (  # noqa: E402
    case_contacts,
    provider_keys,
    treatment_referrals,
)
from services.store.tables_retention import (  # noqa: E402
    retention_grants,
    retention_purges,
    retention_runs,
)
from services.store.tables_spikes import (  # noqa: E402
    spike_alerts,
    spike_outbox,
    spike_reports,
    spike_scenes,
    spike_texts,
)

__all__ = [
    "UTCDateTime", "agency_keys", "api_tokens", "attempts", "audit_log", "case_contacts",
    "case_events", "cases", "events", "gateway_inbox", "match_reviews", "metadata",
    "person_addresses", "person_index", "persons", "program_state", "provider_keys",
    "rate_buckets", "rejections", "retention_grants", "retention_purges", "retention_runs",
    "sms_consents", "sms_outbox", "sms_replies", "sms_statuses",
    "sms_texts", "spike_alerts", "spike_outbox", "spike_reports", "spike_scenes",
    "spike_texts", "timers",
    "treatment_referrals", "user_roles", "users", "web_sessions",
]  # fmt: skip
