"""Regression tests of the GraphQL API: /health, error codes, authentication, page sizes, operation choice."""

from __future__ import annotations

import json
import logging
import time

import jwt
import pytest
from starlette.testclient import TestClient

from kg_service.api.app import HEALTH_ERROR_MESSAGE, create_app
from kg_service.api.auth import (ApiKeyStore, AuthenticationError, AuthorizationError, Authenticator, Principal,
                                 www_authenticate)
from kg_service.client import KGClient
from tests.conftest import graphql, serve_in_thread

SECRET = "trial-secret-for-hs256-tokens-0123456789"

TYPENAME = {"query": "{ __typename }"}


def _token(**claims) -> str:
    return jwt.encode({"exp": int(time.time()) + 60, **claims}, SECRET, algorithm="HS256")


@pytest.fixture
def keys(tmp_path) -> ApiKeyStore:
    return ApiKeyStore(tmp_path / "api_keys.json")


@pytest.fixture
def authenticator(keys) -> Authenticator:
    return Authenticator(keys, SECRET, "reader")


# /health


@pytest.mark.neo4j
def test_health_hides_neo4j_address(store, settings):
    with TestClient(create_app(settings, store)) as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "neo4j": "available"}
    assert "bolt" not in response.text


def test_health_down_hides_driver_error(settings, caplog):
    unreachable = settings.model_copy(update={"neo4j_uri": "bolt://127.0.0.1:9", "neo4j_password": "not-used",
                                              "api_retry_s": 0})
    with caplog.at_level(logging.WARNING, logger="kg_service.api.app"):
        with TestClient(create_app(unreachable)) as client:
            response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "neo4j": "unavailable", "message": HEALTH_ERROR_MESSAGE}
    assert "127.0.0.1" not in response.text
    # The cause, with the address, goes to the log.
    failures = [record.getMessage() for record in caplog.records if "health check failed" in record.getMessage()]
    assert failures
    assert "127.0.0.1:9" in failures[0]


# Error codes of the client's mistakes


@pytest.mark.neo4j
@pytest.mark.parametrize("query", [
    '{ entities(text: "pump", after: "WzEsMl0=") { totalCount } }',
    '{ ontologyClasses(after: "WzFd") { totalCount } }',
    '{ ontologyProperties(after: "WzFd") { totalCount } }',
    '{ entities(text: "   ") { totalCount } }',
    '{ entities(text: "' + "a" * 201 + '") { totalCount } }',
], ids=["entities-cursor", "classes-cursor", "properties-cursor", "blank-text", "long-text"])
def test_argument_errors_coded_query_error(core_graph, settings, query):
    with TestClient(create_app(settings, core_graph)) as client:
        body = graphql(client, query)
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "QueryError"}


# Authentication


def test_empty_bearer_named_as_empty(authenticator):
    for header in ("Bearer ", "Bearer", "bearer    "):
        with pytest.raises(AuthenticationError, match="Bearer scheme but an empty credential") as raised:
            authenticator.principal({"authorization": header})
        assert "unsupported" not in str(raised.value)
        assert raised.value.error == "invalid_request"


def test_empty_headers_rejected(authenticator):
    with pytest.raises(AuthenticationError, match="the X-API-Key header is empty"):
        authenticator.principal({"x-api-key": " "})
    with pytest.raises(AuthenticationError, match="the Authorization header is empty"):
        authenticator.principal({"authorization": ""})


@pytest.mark.parametrize("subject", ["", "   "])
def test_jwt_blank_sub_rejected(authenticator, subject):
    with pytest.raises(AuthenticationError, match="the JWT's sub claim is empty"):
        authenticator.principal({"authorization": f"Bearer {_token(sub=subject, role='ontology-editor')}"})


def test_two_different_credentials_rejected(keys, authenticator):
    analyst, editor = keys.create("ana", "analyst"), keys.create("eddie", "ontology-editor")
    with pytest.raises(AuthenticationError, match="two different credentials") as raised:
        authenticator.principal({"authorization": f"Bearer {analyst}", "x-api-key": editor})
    assert raised.value.error == "invalid_request"
    # The same credential in both headers is one credential.
    same = authenticator.principal({"authorization": f"Bearer {editor}", "x-api-key": editor})
    assert same == Principal("eddie", "ontology-editor", True)


def test_authentication_error_is_authorization_error():
    assert issubclass(AuthenticationError, AuthorizationError)


def test_www_authenticate_quotes_description():
    header = www_authenticate(AuthenticationError('bad "token" \\ 键', "invalid_token"))
    assert header == ('Bearer realm="kg-service", error="invalid_token", '
                      'error_description="bad ?token? ? ?"')


@pytest.mark.neo4j
@pytest.mark.parametrize("shortcut", [True, False], ids=["json-short-path", "strawberry-view"])
def test_rejected_credential_has_www_authenticate(core_graph, settings, shortcut):
    secured = settings.model_copy(update={"jwt_secret": SECRET})
    with TestClient(create_app(secured, core_graph, json_post_shortcut=shortcut)) as client:
        empty = client.post("/graphql", json=TYPENAME, headers={"Authorization": "Bearer "})
        unknown = client.post("/graphql", json=TYPENAME, headers={"X-API-Key": "kgs_not-a-real-key"})
        by_get = client.get("/graphql", params=TYPENAME, headers={"Authorization": "Bearer ",
                                                                  "Accept": "application/json"})
        blank_sub = client.post("/graphql", json=TYPENAME, headers={"Authorization": f"Bearer {_token(sub='')}"})
    for response in (empty, unknown, by_get, blank_sub):
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("text/plain")
        assert response.headers["www-authenticate"].startswith('Bearer realm="kg-service", error="invalid_')
    assert "X-API-Key" in empty.text
    assert 'error="invalid_request"' in empty.headers["www-authenticate"]
    assert 'error="invalid_token"' in unknown.headers["www-authenticate"]
    assert "invalid API key" in unknown.text
    assert "sub claim is empty" in blank_sub.text


@pytest.mark.neo4j
def test_client_rejected_key_authentication_error(core_graph, settings):
    with serve_in_thread(create_app(settings, core_graph)) as url:
        with KGClient(url=url, api_key="kgs_not-a-real-key") as client:
            with pytest.raises(AuthenticationError) as raised:
                client.execute("{ __typename }")
    assert isinstance(raised.value, AuthorizationError)
    assert "invalid API key: it is unknown or was revoked" in str(raised.value)


# Limit and validation errors


LONG_QUERY = "{ " + " ".join("__typename" for _ in range(2100)) + " }"
DEEP_INTROSPECTION = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"


@pytest.mark.neo4j
@pytest.mark.parametrize(("query", "message", "code"), [
    ("{ " + " ".join(f"a{index}: __typename" for index in range(21)) + " }", "21 aliases found", "QueryLimitError"),
    (LONG_QUERY, "more than 2000 tokens", "QueryLimitError"),
    ("{ " + "entity(id: \"x\") { " * 12 + "id" + " }" * 12 + " }", "exceeds maximum operation depth",
     "QueryLimitError"),
    (DEEP_INTROSPECTION, "Maximum introspection depth exceeded", "QueryLimitError"),
    ("query A { ...F } fragment F on Query { ...F }", "within itself", "GRAPHQL_VALIDATION_FAILED"),
    ("{ noSuchField }", "Cannot query field", "GRAPHQL_VALIDATION_FAILED"),
    ("{ entity(id: ", "Syntax Error", "GRAPHQL_PARSE_FAILED"),
], ids=["aliases", "tokens", "depth", "introspection-depth", "recursive-fragment", "unknown-field", "syntax"])
def test_limit_errors_carry_code(core_graph, settings, query, message, code):
    with TestClient(create_app(settings, core_graph)) as client:
        # The second request takes the parser and validation caches.
        bodies = [graphql(client, query), graphql(client, query)]
    for body in bodies:
        error = next(error for error in body["errors"] if message in error["message"])
        assert error["extensions"] == {"code": code}
        assert all("code" in (other.get("extensions") or {}) for other in body["errors"])


# Page sizes


@pytest.mark.neo4j
@pytest.mark.parametrize(("field", "query"), [
    ("entities", '{ entities(text: "pump", first: 500) { totalCount } }'),
    ("failureHistory", '{ failureHistory(asset: "AC-3", first: 500) { totalCount } }'),
    ("supplierKpis", "{ supplierKpis(first: 500) { totalCount } }"),
    ("ontologyClasses", "{ ontologyClasses(first: 500) { totalCount } }"),
    ("ontologyProperties", "{ ontologyProperties(first: 0) { totalCount } }"),
    ("entities", '{ entities(text: "pump", first: 2147483647) { totalCount } }'),
    ("failureHistory", '{ failureHistory(asset: "AC-3", first: 2147483647) { edges { node { '
                       'failureModes(first: 2147483647) { totalCount } } } } }'),
])
def test_first_range_error_names_field(core_graph, settings, field, query):
    with TestClient(create_app(settings, core_graph)) as client:
        body = graphql(client, query)
    message = body["errors"][0]["message"]
    assert message.startswith(f"first of {field} must be between 1 and 200, got ")
    assert body["errors"][0]["extensions"] == {"code": "QueryError"}


@pytest.mark.neo4j
def test_ontology_changes_range_names_field(core_graph, settings, tmp_path):
    secured = settings.model_copy(update={"state_dir": tmp_path})
    analyst = ApiKeyStore(secured.api_keys_file).create("ana", "analyst")
    with TestClient(create_app(secured, core_graph)) as client:
        response = client.post("/graphql", json={"query": "{ ontologyChanges(first: 500) { totalCount } }"},
                               headers={"X-API-Key": analyst})
    assert response.json()["errors"][0]["message"] == "first of ontologyChanges must be between 1 and 200, got 500"


@pytest.mark.neo4j
def test_cost_message_names_no_limit_argument(core_graph, settings):
    pages = " ".join(f'h{index}: failureHistory(asset: "AC-3", first: 200) {{ edges {{ node {{ id date cost }} }} }}'
                     for index in range(15))
    with TestClient(create_app(settings, core_graph)) as client:
        body = graphql(client, "{ " + pages + " }")
    message = body["errors"][0]["message"]
    assert "exceeds the budget" in message
    assert "limit" not in message
    assert "smaller first values" in message


# Several operations


TWO_OPERATIONS = 'query A { __typename } query B { ontologyClasses(first: 1) { totalCount } }'


@pytest.mark.neo4j
@pytest.mark.parametrize("shortcut", [True, False], ids=["json-short-path", "strawberry-view"])
def test_two_operations_need_operation_name(core_graph, settings, shortcut):
    with TestClient(create_app(settings, core_graph, json_post_shortcut=shortcut)) as client:
        unnamed = client.post("/graphql", json={"query": TWO_OPERATIONS}).json()
        by_get = client.get("/graphql", params={"query": TWO_OPERATIONS},
                            headers={"Accept": "application/json"}).json()
        named = client.post("/graphql", json={"query": TWO_OPERATIONS, "operationName": "B"}).json()
    for body in (unnamed, by_get):
        assert body["data"] is None
        assert body["errors"][0]["message"].startswith("must provide operation name if the query contains several "
                                                       "operations")
        assert body["errors"][0]["extensions"] == {"code": "OPERATION_RESOLUTION_FAILURE"}
    assert "errors" not in named
    assert json.dumps(named["data"]).startswith('{"ontologyClasses"')


@pytest.mark.neo4j
@pytest.mark.parametrize("variables", [{}, {"n": "many"}], ids=["missing", "wrong-type"])
def test_variable_errors_coded_bad_input(core_graph, settings, variables):
    query = "query($n: Int!) { ontologyClasses(first: $n) { totalCount } }"
    with TestClient(create_app(settings, core_graph)) as client:
        body = client.post("/graphql", json={"query": query, "variables": variables}).json()
    assert body["errors"][0]["message"].startswith("Variable '$n' has invalid value")
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}


def test_masked_error_coded_internal():
    from graphql import GraphQLError

    from kg_service.api.schema import MaskInternalErrors, _should_mask

    masked = MaskInternalErrors(should_mask_error=_should_mask).anonymise_error(
        GraphQLError("driver detail", original_error=RuntimeError("driver detail")))
    assert masked.message == "Unexpected error."
    assert masked.extensions == {"code": "INTERNAL_SERVER_ERROR"}
