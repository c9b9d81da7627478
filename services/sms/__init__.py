"""Text check-ins: consent, cadence, quiet hours, templates, sending, webhooks."""
