"""Tables of everyone the team serves beyond the overdose survivor's first visit: the
contacts of a case (family, friends, a partner; sealed, each with their own consent to
texts), referrals to treatment with their confirmed states, and the providers' keys."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from services.store.table_base import UTCDateTime, metadata

case_contacts = Table(
    "case_contacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False, index=True),
    Column("program_id", String(64), nullable=False),
    Column("person_id", String(36), nullable=True, index=True),  # the client's person
    Column("relation", String(16), nullable=False),  # family, friend, partner, other
    Column("contact_sealed", Text, nullable=False),  # name and phone, sealed
    Column("phone_token", String(64), nullable=True, index=True),  # blind index of the phone
    Column("sms_consent", Boolean, nullable=False, server_default="0"),  # their own consent
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("removed_at", UTCDateTime, nullable=True),
)

treatment_referrals = Table(
    "treatment_referrals",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False, index=True),
    Column("program_id", String(64), nullable=False),
    Column("provider_id", String(64), nullable=False),
    Column("kind", String(24), nullable=False),  # detox, moud, outpatient, residential, ...
    # referred -> entered -> retained_30d -> retained_90d, or declined / no_show
    Column("state", String(16), nullable=False),
    Column("referred_at", UTCDateTime, nullable=False),
    Column("entered_at", UTCDateTime, nullable=True),
    Column("retained_30d_at", UTCDateTime, nullable=True),
    Column("retained_90d_at", UTCDateTime, nullable=True),
    Column("ended_at", UTCDateTime, nullable=True),  # declined or no_show
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(64), nullable=False),
    Index("ix_treatment_referrals_provider", "program_id", "provider_id"),
)

provider_keys = Table(
    "provider_keys",
    metadata,
    Column("key_hash", String(64), primary_key=True),  # SHA-256 of the key; the key is not kept
    Column("program_id", String(64), nullable=False),
    Column("provider_id", String(64), nullable=False, index=True),
    Column("label", String(100), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)
