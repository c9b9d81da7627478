"""Planning: visit windows (and, later, shift slots)."""
