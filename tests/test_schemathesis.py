"""Schemathesis against /openapi.json of the real app (initialised hierarchy, a party with a live token,
SQLite and PostgreSQL): whatever it sends, no answer is a 5xx.

Each operation gets a bounded number of generated examples (SMKI_SCHEMATHESIS_EXAMPLES, default 30), sent
in-process through ASGI with a valid bearer token so the subscriber endpoints are exercised past
authentication too (missing and bad tokens are covered in test_api_subscribers.py).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from smki.api.app import create_app
from smki.ca import CertificateAuthorities, create_hierarchy
from smki.keys import SoftBackend
from smki.model import EntityId, Hierarchy, KeyUsage, RemotePartyRole
from smki.policy import Licence, Party, PartyIdentifier, PartyType, SubscriberEvent, UserRole
from smki.profiles.environment import PkiEnvironment
from smki.ra import RegistrationAuthority, parties, subscribers, tokens
from smki.storage import Database
from smki.subscriber_tools import csr_builder

PASSPHRASE = "schemathesis-test-passphrase"
EXAMPLES = int(os.environ.get("SMKI_SCHEMATHESIS_EXAMPLES", "30"))
SUPPLIER_ID = EntityId.parse("90-B3-D5-1F-30-01-00-00")


@dataclass
class Served:
    schema: object
    token: str


@pytest.fixture
def served(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Served:
    home = tmp_path / "home"
    monkeypatch.setenv("SMKI_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("SMKI_KEY_PASSPHRASE_FILE", raising=False)
    env = PkiEnvironment()
    keys = SoftBackend(home, {"SMKI_KEY_PASSPHRASE": PASSPHRASE})
    create_hierarchy(database, keys, env, actor="test")
    parties.register_party(
        database,
        Party(
            "elec",
            "Elec Supply",
            PartyType.PARTY,
            frozenset({Licence.ELECTRICITY_SUPPLY}),
            (PartyIdentifier(SUPPLIER_ID, UserRole.IMPORT_SUPPLIER),),
        ),
        actor="dcc-ra",
    )
    for policy in (Hierarchy.ORGANISATION, Hierarchy.DEVICE):
        subscribers.record_entry_tests(database, "elec", policy, actor="dcc-ra")
        subscribers.move(database, "elec", policy, SubscriberEvent.APPLY, actor="elec")
        subscribers.move(database, "elec", policy, SubscriberEvent.DCC_AUTHORISES, actor="dcc-ra")
    # one real certificate, so lookups by serial and searches have something to find
    ra = RegistrationAuthority(database, CertificateAuthorities.open(database, keys, env), env)
    csr, _ = csr_builder.organisation_csr(SUPPLIER_ID, RemotePartyRole.SUPPLIER, KeyUsage.DIGITAL_SIGNATURE)
    ra.submit(csr_builder.csr_pem(csr), party_id="elec", actor="test")
    token = tokens.create_token(database, "elec", actor="dcc-ra").text
    app = create_app(home, database=database)
    return Served(schemathesis.openapi.from_asgi("/openapi.json", app), token)


def fuzz(schema: object, token: str) -> tuple[list[str], Counter[int]]:
    """Run every operation of the schema; return the failures and how often each status was answered."""
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[attr-defined]
    for operation in operations:
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
        )

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            statuses[response.status_code] += 1
            case.validate_response(response, checks=[not_a_server_error])

        try:
            check()
        except Exception as exc:  # one operation's failure must not hide another's
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    return failures, statuses


def test_no_generated_request_gets_a_server_error(served: Served) -> None:
    failures, statuses = fuzz(served.schema, served.token)
    assert not failures, "\n\n".join(failures)
    assert sum(statuses.values()) >= 15 * EXAMPLES // 2, statuses
    assert any(200 <= s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses), statuses
    assert not any(s >= 500 for s in statuses), statuses


def test_the_fuzzing_harness_reports_a_server_error() -> None:
    app = FastAPI()

    @app.get("/boom/{n}")
    def boom(n: int) -> dict[str, int]:
        return {"n": 1 // (n % 2)}  # ZeroDivisionError for even n: a 500

    failures, statuses = fuzz(schemathesis.openapi.from_asgi("/openapi.json", app), "unused")
    # the 500 comes back as a response or, in-process, as the exception the app raised: a failure either way
    assert failures and "/boom/{n}" in failures[0], (failures, statuses)
