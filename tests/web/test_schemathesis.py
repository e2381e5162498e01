"""Schemathesis against the live OpenAPI document, in-process over ASGI, as organization-management.

Every operation gets valid and invalid requests (wrong types, unknown or missing fields): none
may end in a 5xx, invalid ones must be refused, and every answer, errors included, must match
the documented schema. Each operation runs on a fresh install; a generated destructive call
(removing a connector, stopping a service) may make later cases of it fail with a 4xx.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, negative_data_rejection, response_schema_conformance, status_code_conformance,
)

from postroom.web import create_app

from .conftest import SERVER

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance,
          negative_data_rejection]

# The document is read once, at collection, from an app that only serves it; the requests go to
# the `app` fixture, built on a real store per operation. The two documents are the same
# (test_the_document_is_the_apps).
_DOCUMENT_APP = create_app(None, SERVER, "", None)  # type: ignore[arg-type]
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", _DOCUMENT_APP)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], deterministic=True)
# The connectivity tests connect wherever a generated `port` says (on loopback only: `host` must
# be this machine, service/doctor.py), and a port some other program holds makes a step wait
# for its 10 s timeout. Their request and answer shapes are the doctor's kind, which stays in;
# test_doctor_api.py and test_permissions.py cover them.
schema = schema.exclude(path_regex=r"^/api/v1/test/")


def test_the_document_is_the_apps(app, api) -> None:
    assert api.get("/api/v1/openapi.json").json() == schema.raw_schema


# One pytest test per operation, each with its own id (`...[PATCH /api/v1/mailboxes/{address}][organization-
# management]`). Without a parametrization of its own, pytest 9 gives every item schemathesis makes the
# function's bare id, and pytest-xdist (make test) reported two tests for this file, not one per operation.
# The role is that parametrization: the one with every right, so no operation is refused.
@pytest.mark.parametrize("role", ["organization-management"])
@schema.parametrize()
@settings(max_examples=10, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_documented_promises(case, app, principals, role) -> None:
    case.call_and_validate(app=app, headers=principals[role].bearer, checks=CHECKS)
