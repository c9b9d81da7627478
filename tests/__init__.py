"""Tests of the QRT follow-up orchestrator."""
