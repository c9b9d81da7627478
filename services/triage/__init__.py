"""Triage: which program an event belongs to, and whether it gets a follow-up."""
