"""Cases: opening follow-up cases from routed events."""
