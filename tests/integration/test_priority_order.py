"""One priority order (services/core/priority.py): the queue, the CSV export and the
planner's key list the cases alike, ties included (same tier and deadline: the older
overdose first, then the case id)."""

from __future__ import annotations

import csv
import io
import random
from datetime import timedelta

from sqlalchemy import select, update

from schemas.accounts import Role
from schemas.cases import TIER_RANK, Tier
from services.cases.opening import open_cases
from services.core.priority import priority_key
from services.programs import load_programs
from services.store.repository import Store
from services.store.tables import cases
from tests.integration.test_case_store import CIPHER, record
from tests.integration.test_queue_api import NOW, client_for
from tests.support_accounts import bearer


def test_the_csv_lists_the_cases_in_the_queues_order(store: Store) -> None:
    rng = random.Random(14)
    reports = [
        record(f"o{n}", occurred_at=(NOW - timedelta(hours=rng.randint(1, 40))).isoformat())
        for n in range(40)
    ]
    open_cases(store, reports, load_programs(None), NOW, CIPHER)
    due = NOW + timedelta(hours=30)
    with store.transaction() as conn:  # ties on purpose: few tiers, one deadline for many
        for n, case_id in enumerate(sorted(conn.execute(select(cases.c.id)).scalars())):
            tier = rng.choice(list(Tier))
            same_deadline = {"window_due_at": due} if n % 3 else {}
            conn.execute(
                update(cases).where(cases.c.id == case_id)
                .values(tier=tier.value, tier_rank=TIER_RANK[tier], **same_deadline)
            )  # fmt: skip
        rows = conn.execute(select(cases)).all()
    expected = [
        r.id
        for r in sorted(
            rows, key=lambda r: priority_key(r.tier_rank, r.window_due_at, r.occurred_at, r.id)
        )
    ]
    headers = bearer(store, "coord", Role.COORDINATOR)
    with client_for(store) as client:
        page = client.get("/api/v1/programs/example/queue?limit=100", headers=headers).json()
        export = client.get("/api/v1/programs/example/export.csv", headers=headers).text
    queue_order = [item["case_id"] for item in page["items"]]
    lines = [line for line in export.splitlines() if not line.startswith('"#')]
    csv_order = [row["case_id"] for row in csv.DictReader(io.StringIO("\n".join(lines)))]
    assert len(queue_order) == 40
    assert queue_order == expected
    assert csv_order == queue_order
