"""Texts and the feed in the period, by what happened in it (not by the cases' time):

- sent: texts handed to the sender in the period; delivered: those of them the carrier
  reported delivered (state or Twilio's last status); failed: texts that ended failed or
  undelivered in the period (refused at sending, or reported so by the carrier);
- opted out: opt-out records of the period (a STOP reply, Twilio's 21610, a coordinator's
  or an outcome's revocation): each record, not distinct phones, so the figure stands
  after phone tokens are purged; a death or a "no" given with the report is no opt-out;
- rejected feed records of the program, by agency and reason.

Read from states, times, codes and sources only: no number, token or body."""

from __future__ import annotations

from sqlalchemy import and_, case, func, or_, select

from schemas.report import RejectionRow, TextFigures
from schemas.sms import ConsentSource, TextState
from services.reporting.scope import Scope
from services.reporting.sql_parts import in_range
from services.store.tables import rejections, sms_consents, sms_texts

OPT_OUTS = (
    ConsentSource.INBOUND_STOP.value,
    ConsentSource.TWILIO_21610.value,
    ConsentSource.COORDINATOR.value,
    ConsentSource.OUTCOME.value,
)
FAILED = (TextState.FAILED.value, TextState.UNDELIVERED.value)
UNKNOWN_AGENCY = "(unknown)"


def text_figures(scope: Scope) -> TextFigures:
    start, end = scope.period.start_utc, scope.period.end_utc
    t = sms_texts
    sent = in_range(t.c.sent_at, start, end)
    delivered = or_(
        t.c.state == TextState.DELIVERED.value,
        and_(t.c.state == TextState.SENT.value, t.c.twilio_status == TextState.DELIVERED.value),
    )
    failed = and_(t.c.state.in_(FAILED), in_range(t.c.final_at, start, end))
    row = scope.conn.execute(
        select(
            func.sum(case((sent, 1), else_=0)),
            func.sum(case((and_(sent, delivered), 1), else_=0)),
            func.sum(case((failed, 1), else_=0)),
        ).where(t.c.program_id == scope.program.id, or_(sent, failed))
    ).one()
    opted_out = scope.conn.execute(
        select(func.count()).where(
            sms_consents.c.program_id == scope.program.id,
            sms_consents.c.granted.is_(False),
            sms_consents.c.source.in_(OPT_OUTS),
            in_range(sms_consents.c.at, start, end),
        )
    ).scalar_one()
    return TextFigures(
        sent=int(row[0] or 0),
        delivered=int(row[1] or 0),
        failed=int(row[2] or 0),
        opted_out=int(opted_out),
    )


def rejection_rows(scope: Scope) -> list[RejectionRow]:
    rows = scope.conn.execute(
        select(rejections.c.agency_id, rejections.c.reason, func.count())
        .where(
            rejections.c.program_id == scope.program.id,
            in_range(rejections.c.rejected_at, scope.period.start_utc, scope.period.end_utc),
        )
        .group_by(rejections.c.agency_id, rejections.c.reason)
    ).all()
    counted = sorted(
        ((agency or UNKNOWN_AGENCY, reason, int(n)) for agency, reason, n in rows),
        key=lambda r: (-r[2], r[0], r[1]),
    )
    return [RejectionRow(agency_id=a, reason=r, count=n) for a, r, n in counted]
