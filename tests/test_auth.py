"""API keys, JWTs and roles of the GraphQL API."""

from __future__ import annotations

import time

import jwt
import pytest
from starlette.testclient import TestClient

from kg_service.api.app import create_app
from kg_service.api.auth import ApiKeyStore, AuthenticationError, Authenticator, Principal

SECRET = "test-secret-for-hs256-tokens-0123456789"


@pytest.fixture
def keys(tmp_path) -> ApiKeyStore:
    return ApiKeyStore(tmp_path / "api_keys.json")


def test_key_is_stored_as_hash(keys):
    key = keys.create("alice", "analyst")
    stored = keys.path.read_text(encoding="utf-8")
    assert key.startswith("kgs_")
    assert key not in stored
    assert keys.authenticate(key) == Principal("alice", "analyst", True)
    assert keys.path.stat().st_mode & 0o077 == 0


def test_revoked_key_is_rejected(keys):
    key = keys.create("bob", "reader")
    assert keys.revoke("bob")
    authenticator = Authenticator(keys, None, "reader")
    with pytest.raises(AuthenticationError, match="invalid API key"):
        authenticator.principal({"authorization": f"Bearer {key}"})


def test_duplicate_name_and_bad_role(keys):
    keys.create("carol", "admin")
    with pytest.raises(Exception, match="exists"):
        keys.create("carol", "reader")
    with pytest.raises(ValueError, match="role must be one of"):
        keys.create("dave", "superuser")


def test_roles_are_ordered():
    editor = Principal("e", "ontology-editor", True)
    assert editor.has_role("reader")
    assert editor.has_role("analyst")
    assert editor.has_role("ontology-editor")
    assert not editor.has_role("admin")


def test_anonymous_gets_configured_role(keys):
    principal = Authenticator(keys, None, "reader").principal({})
    assert principal == Principal("anonymous", "reader", False)


def test_jwt_roles_and_expiry(keys):
    authenticator = Authenticator(keys, SECRET, "reader")
    valid = jwt.encode({"sub": "erin", "role": "analyst", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    expired = jwt.encode({"sub": "erin", "role": "admin", "exp": int(time.time()) - 60}, SECRET, algorithm="HS256")
    forged = jwt.encode({"sub": "erin", "role": "admin", "exp": int(time.time()) + 60}, "another-secret-0123456789abcdefgh",
                        algorithm="HS256")
    assert authenticator.principal({"authorization": f"Bearer {valid}"}) == Principal("erin", "analyst", True)
    with pytest.raises(AuthenticationError, match="expired"):
        authenticator.principal({"authorization": f"Bearer {expired}"})
    with pytest.raises(AuthenticationError, match="invalid JWT"):
        authenticator.principal({"authorization": f"Bearer {forged}"})


def test_jwt_audience_and_issuer_checked(keys):
    authenticator = Authenticator(keys, SECRET, "reader", jwt_audience="kg-service", jwt_issuer="https://idp.plant")
    claims = {"sub": "erin", "role": "analyst", "exp": int(time.time()) + 60}

    def bearer(**extra) -> dict:
        return {"authorization": "Bearer " + jwt.encode({**claims, **extra}, SECRET, algorithm="HS256")}

    assert authenticator.principal(bearer(aud="kg-service", iss="https://idp.plant")) == \
        Principal("erin", "analyst", True)
    with pytest.raises(AuthenticationError, match="invalid JWT: .*aud"):
        authenticator.principal(bearer(iss="https://idp.plant"))
    with pytest.raises(AuthenticationError, match="invalid JWT: Audience doesn't match"):
        authenticator.principal(bearer(aud="another-service", iss="https://idp.plant"))
    with pytest.raises(AuthenticationError, match="invalid JWT: Invalid issuer"):
        authenticator.principal(bearer(aud="kg-service", iss="https://elsewhere"))


def test_jwt_rejected_without_secret(keys):
    token = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    with pytest.raises(AuthenticationError, match="KG_JWT_SECRET is not set"):
        Authenticator(keys, None, "reader").principal({"x-api-key": token})


@pytest.mark.neo4j
def test_bad_credential_fails_request(core_graph, settings):
    with TestClient(create_app(settings, core_graph)) as client:
        anonymous = client.post("/graphql", json={"query": "{ ontologyClasses { totalCount } }"})
        rejected = client.post("/graphql", json={"query": "{ ontologyClasses { totalCount } }"},
                               headers={"Authorization": "Bearer kgs_not-a-real-key"})
    assert anonymous.status_code == 200
    assert rejected.status_code == 401
    assert "invalid API key" in rejected.text


RELABEL = """mutation($why: String!) { relabelTerm(term: "Equipment", labelEn: "Machine", why: $why,
             author: "someone else") { applied } }"""


@pytest.mark.neo4j
def test_mutation_needs_editor_role(core_graph, settings, tmp_path):
    secured = settings.model_copy(update={"state_dir": tmp_path})
    keys = ApiKeyStore(secured.api_keys_file)
    analyst, editor = keys.create("ana", "analyst"), keys.create("eddie", "ontology-editor")
    with TestClient(create_app(secured, core_graph)) as client:
        anonymous = client.post("/graphql", json={"query": RELABEL, "variables": {"why": "test"}}).json()
        as_analyst = client.post("/graphql", json={"query": RELABEL, "variables": {"why": "test"}},
                                 headers={"Authorization": f"Bearer {analyst}"}).json()
        as_editor = client.post("/graphql", json={"query": RELABEL, "variables": {"why": "rename for the plant"}},
                                headers={"Authorization": f"Bearer {editor}"}).json()
        history = client.post("/graphql", json={"query": "{ ontologyChanges { edges { node { author why } } } }"},
                              headers={"X-API-Key": analyst}).json()
        reader_history = client.post("/graphql", json={"query": "{ ontologyChanges { totalCount } }"}).json()
    assert "needs the role ontology-editor" in anonymous["errors"][0]["message"]
    assert "needs the role ontology-editor" in as_analyst["errors"][0]["message"]
    assert as_editor["data"]["relabelTerm"]["applied"] is True
    assert history["data"]["ontologyChanges"]["edges"][0]["node"] == {"author": "eddie", "why": "rename for the plant"}
    assert "needs the role analyst" in reader_history["errors"][0]["message"]


def test_other_auth_scheme_rejected(keys):
    key = keys.create("frank", "admin")
    with pytest.raises(AuthenticationError, match="unsupported Authorization scheme 'Basic'"):
        Authenticator(keys, None, "reader").principal({"authorization": f"Basic {key}"})
