"""How long a program keeps personal data and the audit log, and the job that removes
them after that (the nightly job of the timer worker, `qrt retention run`)."""
