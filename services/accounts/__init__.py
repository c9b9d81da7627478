"""Accounts, roles and credentials of the work-queue API and pages."""
