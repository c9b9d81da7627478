"""Property-based fuzzing of the work-queue API from its own OpenAPI document (schemathesis).

Every operation of `/openapi.json` gets generated requests (valid and invalid path
ids, query strings, headers and bodies), sent with a coordinator's bearer token; no
answer may be a 5xx (`not_a_server_error`). Some generated requests are aimed at a real
case or program id, so the handlers behind the 404 are reached too. Runs on a real
store, SQLite and PostgreSQL (the `store` fixture).

Why the Python API (`APIOperation.as_strategy` under Hypothesis's `@given`) and not
`schemathesis.pytest.from_fixture(...).parametrize()`: the app needs the per-test,
per-database `store` fixture, so the schema can only come from a fixture, and the lazy
fixture loader of schemathesis 4.32.5 fails under pytest 9.2 (`'Function' object has no
attribute '_nodeid'`: pytest 9.2 made the node id a read-only property). The checks are
the same (`case.call_and_validate(checks=[not_a_server_error])`).

Left out, on purpose:
- `/api/v1/events*`, the ingest gateway: it publishes to Kafka (needs a broker) and
  authenticates publishers, not QRT members; it has its own tests
  (test_ingest_gateway.py).
- `/twilio/*`, the Twilio webhooks: every request must carry Twilio's signature, so
  generated requests all stop at the signature check (test_twilio_webhooks.py).
- `/api/v1/programs/{program_id}/live`, server-sent events: the stream never ends, so a
  test client call on it would not return.
- `/readyz`: without a broker (as here) its answer is 503 by design (not ready); its
  answers are tested in tests/e2e/test_stack_up.py.

A treatment provider's operations (`PROVIDER_OPS`) authenticate a provider, not a QRT
member: they are fuzzed with a provider's key (`qrt provider create-key`), and aimed at a
real referral of that provider.

`POST /api/v1/programs/{program_id}/referrals` publishes what it accepts to the broker:
the app under fuzzing gets the session's embedded broker and topics of its own.
"""

from __future__ import annotations

import re
from typing import Any

import hypothesis.strategies as st
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from sqlalchemy import func, inspect, select

from schemas.accounts import Role
from services.settings import Settings
from services.store.repository import Store
from services.store.tables import audit_log, cases
from services.topics import ensure_topics
from tests.integration.test_queue_api import client_for, seed
from tests.integration.treatment_support import MOUD, provider_key, refer
from tests.support_accounts import bearer

EXCLUDED = re.compile(r"^/api/v1/events|^/twilio/|/live$|^/readyz$")
EXAMPLES = 50  # per operation and database: the whole file stays well under 90 s
PATH_PARAM = re.compile(r"{(\w+)}")
PROVIDER_OPS = {
    "GET /api/v1/treatment-referrals",
    "POST /api/v1/treatment-referrals/{referral_id}/status",
}


def _strategies(operation: Any, real: dict[str, list[Any]]) -> st.SearchStrategy[Any]:
    """Generated requests, valid and invalid; and valid ones aimed at real ids."""
    options = [operation.as_strategy(GenerationMode.POSITIVE)]
    names = PATH_PARAM.findall(operation.path)
    if names:
        options.append(operation.as_strategy(GenerationMode.NEGATIVE))
    aimed = {n: real[n] for n in names if n in real}
    if aimed:
        options.append(
            st.fixed_dictionaries({n: st.sampled_from(v) for n, v in aimed.items()}).flatmap(
                lambda ids: operation.as_strategy(GenerationMode.POSITIVE, path_parameters=ids)
            )
        )
    return st.one_of(options)


def _fuzz(operation: Any, strategy: st.SearchStrategy[Any], headers: dict[str, str]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,  # nothing written to .hypothesis/ in the shared tree
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    run()


def test_no_operation_answers_with_a_server_error(
    store: Store, broker: str, topic_prefix: str
) -> None:
    seed(store)
    headers = bearer(store, "coord", Role.COORDINATOR)
    bearer(store, "peer", Role.OUTREACH)  # someone a coordinator may assign cases to
    ensure_topics(Settings(topic_prefix=topic_prefix), broker)  # referrals are published
    with client_for(store, kafka_bootstrap_servers=broker, topic_prefix=topic_prefix) as client:
        app = client.app
        items = client.get("/api/v1/programs/example/queue", headers=headers).json()["items"]
        referral = refer(client, items[0]["case_id"], MOUD, headers)
    provider = provider_key(store, MOUD)
    real = {
        "case_id": [i["case_id"] for i in items],
        "program_id": ["example"],
        "referral_id": [referral],
    }
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    tried: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if EXCLUDED.search(operation.path):
            continue
        tried.append(operation.label)
        try:
            sent = provider if operation.label in PROVIDER_OPS else headers
            _fuzz(operation, _strategies(operation, real), sent)
        except Exception as exc:  # collect every operation's failure, then report all
            failures.append(f"{operation.label}: {exc}")
    assert "PUT /api/v1/cases/{case_id}/owner" in tried and len(tried) == 33
    assert {
        "GET /api/v1/persons/{person_id}",
        "POST /api/v1/cases/{case_id}/callback/handled",
        "GET /api/v1/rejections",
        "POST /api/v1/cases/{case_id}/treatment-referrals",
        "PUT /api/v1/treatment-referrals/{referral_id}/status",
        *PROVIDER_OPS,
        "PUT /api/v1/cases/{case_id}/engagement",
        "DELETE /api/v1/cases/{case_id}/engagement",
        "POST /api/v1/cases/{case_id}/contacts",
        "DELETE /api/v1/cases/{case_id}/contacts/{contact_id}",
        "POST /api/v1/programs/{program_id}/referrals",
        "GET /api/v1/programs/{program_id}/report",
    } <= set(tried)
    assert not failures, "\n\n".join(failures)
    with store.engine.connect() as conn:  # the store is whole after the run
        assert {"cases", "audit_log", "users"} <= set(inspect(conn).get_table_names())
        assert conn.execute(select(func.count()).select_from(cases)).scalar_one() == 2
        assert conn.execute(select(func.count()).select_from(audit_log)).scalar_one() > 0
        provider_reads = audit_log.c.action == "provider_referrals_read"  # its key was let in
        assert conn.execute(select(func.count()).where(provider_reads)).scalar_one() > 0


def test_the_fuzzed_schema_is_the_apps(store: Store) -> None:
    """The operations fuzzed above are those of the running app's OpenAPI document."""
    with TestClient(client_for(store).app) as client:
        paths = client.get("/openapi.json").json()["paths"]
    kept = {p for p in paths if not EXCLUDED.search(p)}
    assert "/api/v1/programs/{program_id}/queue" in kept
    assert not any(p.startswith(("/api/v1/events", "/twilio/")) for p in kept)
    assert "/api/v1/programs/{program_id}/live" in paths and len(kept) == 30
