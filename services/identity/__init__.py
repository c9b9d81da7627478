"""Identity: recognise the same person across EMS and police reports.

Pure functions only (no I/O, no database, no logging): normalisation of names,
phones, ZIP codes and streets (`normalize`), string and date similarity
(`similarity`), and the scoring and link / review / new decision (`matching`).
Link, don't merge destructively: uncertain or conflicting matches go to review.
"""
