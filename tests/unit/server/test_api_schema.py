"""schemathesis against the API's own /openapi.json, in-process (ASGI), with a bearer token:
generated requests, valid and not, never get a 500, and every answer has a documented status,
content type and body shape, and invalid requests are refused with a 4xx.

The app runs a real applied config (web_workspace) with a run waiting for approval and a finished
one; half the generated requests name them (`release` #1, `quick` #1) so that they reach the real
code rather than stop at a 404. A bounded number of examples per operation and mode keeps the
whole under a minute. (schemathesis' own pytest loader, `from_fixture`, does not work with this
pytest, so the test draws cases from each operation's hypothesis strategy itself.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (content_type_conformance, negative_data_rejection,
                                 not_a_server_error, response_headers_conformance,
                                 response_schema_conformance, status_code_conformance)

from web_app import close_web_app, without_lifespan
from web_workspace import make_web

from flowplan.server import api, worker_api

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]
OPERATIONS = sorted(f"{method} {route.path}"
                    for route in [*api.router.routes, *worker_api.router.routes]
                    for method in route.methods)
EXAMPLES = 12


@pytest.fixture(scope="module")
def api_web(tmp_path_factory):
    web = make_web(tmp_path_factory.mktemp("schema") / "config")
    web.start("release")
    web.wait("release#1", "waiting")
    web.start("quick")
    web.wait("quick#1", "succeeded")
    yield web
    web.client.close()
    close_web_app(web.context)


@pytest.fixture(scope="module")
def api_schema(api_web):
    return schemathesis.openapi.from_asgi("/openapi.json", without_lifespan(api_web.app))


def test_every_route_is_in_the_openapi_document(api_schema):
    documented = sorted(result.ok().label for result in api_schema.get_all_operations())
    assert documented == OPERATIONS


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["valid", "invalid"])
@pytest.mark.parametrize("label", OPERATIONS)
def test_generated_requests_are_answered_as_documented(api_schema, api_web, label, mode):
    (operation,) = [r.ok() for r in api_schema.get_all_operations() if r.ok().label == label]
    strategies = [operation.as_strategy(generation_mode=mode)]
    names = {p.name for p in operation.path_parameters}
    known = {"pipeline": "release" if "number" in names or label.startswith("POST") else "quick",
             "number": 1}
    if names and mode == GenerationMode.POSITIVE:
        strategies.append(operation.as_strategy(
            generation_mode=mode, path_parameters={k: known[k] for k in names if k in known}))

    @given(case=st.one_of(strategies))
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def answered(case):
        case.call_and_validate(headers=api_web.bearer("alice"), checks=CHECKS)

    answered()
