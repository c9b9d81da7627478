"""The first steps of `qrt up`, in a short-lived process of their own: migrate the store,
in development make the first admin (its sign-in printed once), create the topics.

`python -m services.runtime.stack_setup API_URL`, with the stack's settings in the
environment (the broker's address in KAFKA_BOOTSTRAP_SERVERS). What a person should
read goes to standard output, one line each; a known failure is one `error: ...` line
on standard error and exit status 1. Apart, so that the supervisor, which runs as long
as the stack, never loads the store's, the migrations', the password hashing's or the
Kafka admin client's libraries (tens of MB it would hold for nothing).
"""

from __future__ import annotations

import logging
import sys

from services.settings import Settings


def prepare(settings: Settings, api_url: str) -> list[str]:
    from services.bootstrap import engine_for
    from services.runtime.run_files import bootstrap_servers
    from services.store.database import migrate
    from services.topics import ensure_topics

    said = []
    engine = engine_for(settings)
    try:
        migrate(engine)
        if settings.environment == "development":
            from services.accounts.first_admin import ensure_first_admin
            from services.clock import shifted_clock
            from services.store.repository import Store

            now = shifted_clock(settings.clock_offset_seconds)()
            login = ensure_first_admin(Store(engine), now)
            if login:
                said.append(
                    f"first sign-in (shown once): user {login[0]!r}, password {login[1]!r} "
                    f"at {api_url}/login"
                )
    finally:
        engine.dispose()
    ensure_topics(settings, bootstrap_servers(settings))
    return said


def main(argv: list[str]) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("kafka", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from services.errors import KNOWN_ERRORS

    try:
        said = prepare(Settings(), argv[0])
    except KNOWN_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    for line in said:
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
