"""What every `qrt` command shares: its settings (with `--data-dir`), the context built
by the composition root, a program by id, a case by (the start of) its id, and how it
speaks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from services.settings import Settings


def settings_of(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    data_dir = getattr(args, "sub_data_dir", None) or getattr(args, "data_dir", None)
    if data_dir:
        overrides["data_dir"] = Path(data_dir)
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:  # refused at start, said plainly (never the values)
        raise SystemExit(f"error: the settings are refused: {settings_problems(exc)}") from None


def settings_problems(exc: ValidationError) -> str:
    said = []
    for error in exc.errors(include_input=False, include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        field = ".".join(str(part) for part in error["loc"])
        said.append(f"QRT_{field.upper()}: {message}" if field else message)
    return "; ".join(said)


def context_of(args: argparse.Namespace) -> Any:
    from services.bootstrap import bootstrap

    return bootstrap(settings_of(args))


def program_of(ctx: Any, program_id: str) -> Any:
    program = ctx.programs.get(program_id)
    if program is None:
        raise SystemExit(f"error: no program {program_id!r}")
    return program


def case_id_of(ctx: Any, typed: str) -> str:
    """The full id of the case a command names by its id or a unique start of it (the 8
    characters the pages and the printed plan show will do); else a clear refusal."""
    from services.store.case_ids import CaseIdError, resolve_case_id

    try:
        with ctx.store.engine.connect() as conn:
            return resolve_case_id(conn, typed)
    except CaseIdError as exc:
        raise SystemExit(f"error: {exc}") from None


def say(text: str) -> None:
    print(text, flush=True)


def err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
