"""Words a person reads instead of the codes the store keeps (`{{ code|words }}`)."""

from __future__ import annotations

from typing import Any

WORDS: dict[str, str] = {
    # tiers and statuses
    "new": "Never contacted",
    "unlocated": "Not located before",
    "deferred": "Declined, wants help later",
    "follow-up": "Follow-up",
    "engaged": "Staying in touch",
    "family_support": "Family support",
    # case kinds and referral kinds
    "overdose": "Overdose",
    "referral": "Referral",
    "self": "Self-referral",
    "walk_in": "Walk-in",
    "provider": "A provider",
    "court": "Court",
    "partner": "Partner",
    # a referral's urgency, and languages
    "now": "Urgent: now",
    "today": "Today",
    "this_week": "This week",
    "eng": "English",
    "spa": "Spanish",
    # treatment states
    "referred": "Referred",
    "entered": "Entered treatment",
    "retained_30d": "In treatment at 30 days",
    "retained_90d": "In treatment at 90 days",
    "declined": "Declined",
    "no_show": "Did not show",
    "open": "Open",
    "closed": "Closed",
    # at-risk reasons
    "capacity_full": "every shift in the window is full",
    "no_shift_in_window": "no shift inside the visit window",
    # visit results and outcomes
    "contacted_accepted_treatment": "Contacted: accepted treatment",
    "contacted_declined_future_interest": "Contacted: declined, wants help later",
    "contacted_declined": "Contacted: declined",
    "contacted": "Contacted",
    "not_located": "Not located",
    "bad_address": "Bad address",
    "hospitalized_or_in_custody": "In hospital or in custody",
    "deceased": "Deceased",
    "opted_out": "Opted out",
    "merged_into": "Merged into another case",
    # referrals
    "detox": "Detox",
    "clinical_stabilization": "Clinical stabilization",
    "transitional_support": "Transitional support",
    "moud": "Medication for opioid use disorder",
    "intensive_outpatient": "Intensive outpatient",
    "grief_resources": "Grief resources",
    # texts to a contact of a case, and what changed of the contacts
    "support_check_in": "Support check-in (to a contact)",
    "contacts_changed": "Contacts changed",
    # kinds of treatment providers (detox and moud above)
    "outpatient": "Outpatient treatment",
    "residential": "Residential treatment",
    "recovery_housing": "Recovery housing",
    # visit methods, services, people met
    "in_person": "In person",
    "phone": "Phone",
    "text": "Text",
    "materials_left": "Materials left",
    "naloxone_kit": "Naloxone kit",
    "fentanyl_test_strips": "Fentanyl test strips",
    "harm_reduction_supplies": "Harm-reduction supplies",
    "treatment_info": "Treatment information",
    "peer_support": "Peer support",
    "client": "The client",
    "family": "Family",
    "friend": "A friend",
    "none": "Nobody",
    # sources
    "ems": "EMS",
    "police": "Police",
    "hospital": "Hospital",
}


def words(code: object) -> str:
    """The words for `code`; an unknown code reads with spaces for underscores."""
    if code is None:
        return ""
    text = str(code)
    return WORDS.get(text) or text.replace("_", " ").capitalize()


def actor_words(actor: str | None) -> str:
    """`user:maria` reads as "maria", `system:planner` as "the system (planner)"."""
    if not actor:
        return ""
    kind, _, name = actor.partition(":")
    if kind == "user" and name:
        return name
    if kind == "system":
        return f"the system ({name})" if name else "the system"
    return actor


def person_name(person: Any) -> str:
    """First, middle and last name, as known."""
    parts = (person.first_name, getattr(person, "middle_name", None), person.last_name)
    return " ".join(p for p in parts if p)


def age_words(age: Any) -> str:
    """ "age 36", "age about 36", "age 3 months": the reported age, for want of a DOB."""
    if age is None:
        return ""
    unit = getattr(age, "unit", None)
    shown = f"{age.value}" if unit in (None, "years") else f"{age.value} {unit}"
    return f"age {'about ' if getattr(age, 'approximate', False) else ''}{shown}"
