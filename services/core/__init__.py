"""The pure core: decisions from what is known, no I/O (import-linter checks it)."""
