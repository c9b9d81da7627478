"""SQL pieces every part of the report uses, the same answer on SQLite and PostgreSQL:
hours between two stored times, a time's bucket in a period, a word of a space-separated
list, and the median and 90th percentile of hours per group.

Quantiles are continuous (linear between the two nearest values, as PostgreSQL's
`percentile_cont`): computed by PostgreSQL itself, and on SQLite, which has no such
aggregate, from the sorted values of each group."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, case, func, literal, select, true
from sqlalchemy import column as column_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from services.reporting.spread import Spread, continuous_quantile

NOT_RECORDED = "(none)"


def seconds_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    """`later - earlier` in seconds, exact to the millisecond on both backends."""
    if dialect == "postgresql":
        return func.date_part("epoch", later - earlier)  # a double, not a numeric
    # SQLite: julianday() keeps whole milliseconds; rounding the seconds undoes the float
    return func.round((func.julianday(later) - func.julianday(earlier)) * 86400.0, 3)


def hours_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    return seconds_between(dialect, later, earlier) / 3600.0


def not_among(dialect: str, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """`column` is none of these ids, however many (one parameter: a PostgreSQL array, a
    JSON list on SQLite)."""
    if not ids:
        return true()
    if dialect == "postgresql":
        listed = select(func.unnest(bindparam("ids", list(ids), type_=ARRAY(Integer))))
    else:
        listed = select(column_("value")).select_from(func.json_each(json.dumps(list(ids))))
    result: ColumnElement[bool] = column.not_in(listed)
    return result


def in_range(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    result: ColumnElement[bool] = (column >= start) & (column < end)
    return result


def bucket_of(column: Any, ends: Sequence[datetime]) -> ColumnElement[Any]:
    """The index of the bucket (by the buckets' exclusive UTC ends, in order) a time is in."""
    return case(*[(column < end, i) for i, end in enumerate(ends)], else_=len(ends))


def has_word(column: Any, word: str) -> ColumnElement[bool]:
    """A space-separated list of words (attempts.services, needs, barriers) holds `word`."""
    padded = literal(" ") + column + literal(" ")
    result: ColumnElement[bool] = padded.like(f"% {word} %")
    return result


def quantiles_by(conn: Connection, values: Subquery) -> dict[str, Spread]:
    """The count, median and 90th percentile of `values.c.hours` per `values.c.key` (rows
    without hours left out)."""
    key, hours = values.c.key, values.c.hours
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            select(
                key,
                func.count(hours),
                func.percentile_cont(0.5).within_group(hours),
                func.percentile_cont(0.9).within_group(hours),
            )
            .where(hours.is_not(None))
            .group_by(key)
        ).all()
        return {_key(r[0]): Spread(int(r[1]), r[2], r[3]) for r in rows}
    grouped: dict[str, list[float]] = defaultdict(list)
    for k, h in conn.execute(select(key, hours).where(hours.is_not(None)).order_by(key, hours)):
        grouped[_key(k)].append(float(h))
    return {
        k: Spread(len(v), continuous_quantile(v, 0.5), continuous_quantile(v, 0.9))
        for k, v in grouped.items()
    }


def quantiles_of(conn: Connection, values: Subquery) -> dict[str, Spread]:
    """The count, median and 90th percentile of each column of `values` (its nulls left
    out), in one statement on PostgreSQL."""
    if conn.dialect.name == "postgresql":
        aggregates = []
        for column in values.c:
            aggregates += [
                func.count(column),
                func.percentile_cont(0.5).within_group(column),
                func.percentile_cont(0.9).within_group(column),
            ]
        row = conn.execute(select(*aggregates)).one()
        return {
            c.name: Spread(int(row[3 * i]), row[3 * i + 1], row[3 * i + 2])
            for i, c in enumerate(values.c)
        }
    found: dict[str, list[float]] = {c.name: [] for c in values.c}
    for row in conn.execute(select(values)):
        for name, value in zip(found, row, strict=True):
            if value is not None:
                found[name].append(float(value))
    out = {}
    for name, got in found.items():
        got.sort()
        out[name] = Spread(len(got), continuous_quantile(got, 0.5), continuous_quantile(got, 0.9))
    return out


def _key(value: Any) -> str:
    return NOT_RECORDED if value is None else str(value)
