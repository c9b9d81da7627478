"""On PYTHONPATH for `make lint`'s run of tests/unit: importing the stack's libraries
fails, so a unit test that needs a database, a broker or a web framework is found."""

import sys

BLOCKED = (
    "sqlalchemy", "alembic", "psycopg", "faust", "fastapi", "starlette", "uvicorn",
    "twilio", "aiokafka", "kafka", "apscheduler", "calfkit",
)  # fmt: skip


class _Blocker:
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"tests/unit must run without the stack: {name} was imported")


sys.meta_path.insert(0, _Blocker())  # type: ignore[arg-type]
