"""Authentication and roles for the GraphQL API: API keys and JWT bearer tokens.

Roles are ordered, each including the rights of those before it: reader < analyst <
ontology-editor < admin. A request carries a credential in `Authorization: Bearer <token>`
(an API key or a JWT signed with KG_JWT_SECRET, HS256, with `sub` and `role` claims) or in
`X-API-Key`. Without a credential it gets KG_ANONYMOUS_ROLE (default `reader`), so a local
quick start can read without keys while every change needs an authenticated role.

API keys are stored as SHA-256 hashes in `<state_dir>/api_keys.json`; the key itself is shown
once, when `kg-service apikey create` makes it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jwt
from cross_web import HTTPException
from strawberry.permission import BasePermission
from strawberry.types import Info

from kg_service.errors import ConfigurationError, KGServiceError

logger = logging.getLogger(__name__)

ROLES = ("reader", "analyst", "ontology-editor", "admin")
KEY_PREFIX = "kgs_"

CREDENTIAL_HINT = ("send 'Authorization: Bearer <API key or JWT>' or 'X-API-Key: <API key or JWT>', or neither "
                   "header for the anonymous role")

# The realm of the WWW-Authenticate header of a rejected request.
REALM = "kg-service"


class AuthorizationError(KGServiceError):
    """The request may not run: its role is too low for a field, or its credential was rejected."""


class AuthenticationError(AuthorizationError):
    """A credential was sent but is empty, malformed, invalid, expired or revoked.

    `error` is the RFC 6750 error code of the `WWW-Authenticate` header: `invalid_request` for a
    malformed request (an empty credential, two credentials, another scheme), `invalid_token` for
    a credential that is well formed but not accepted.
    """

    def __init__(self, message: str, error: str = "invalid_token") -> None:
        super().__init__(message)
        self.error = error


@dataclass(frozen=True)
class Principal:
    """The sender of a request and its role."""

    name: str
    role: str
    authenticated: bool

    def has_role(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(check_role(role))


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeyStore:
    """API keys with their names and roles, kept as hashes in a JSON file.

    Usage::

        keys = ApiKeyStore(settings.state_dir / "api_keys.json")
        key = keys.create("alice", "analyst")    # show `key` to the user once
        keys.authenticate(key).role              # 'analyst'
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cached: tuple[tuple[int, int, int], dict[str, dict[str, Any]]] | None = None
        self._lock = threading.Lock()

    def _entries(self) -> dict[str, dict[str, Any]]:
        """Return the stored keys for reading, parsed again only when the file's inode, mtime or size changed.

        A `stat` per request replaces a read and JSON parse, and a key created or revoked by
        another process (a new file replaces the old one) is seen on the next request.
        """
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._cached is None or self._cached[0] != signature:
                self._cached = (signature, self._load())
            return self._cached[1]

    def _load(self) -> dict[str, dict[str, Any]]:
        if not self.path.is_file():
            return {}
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ConfigurationError(f"{self.path}: invalid API key file ({error}); restore it or delete it and "
                                     "create the keys again") from error

    def _save(self, entries: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(entries, handle, indent=2, sort_keys=True)
        temporary.replace(self.path)

    def create(self, name: str, role: str) -> str:
        """Create a key for `name` with `role` and return it; only its hash is stored."""
        check_role(role)
        if not name.strip():
            raise ValueError("name must not be empty")
        entries = self._load()
        if any(entry["name"] == name for entry in entries.values()):
            raise ConfigurationError(f"an API key named {name!r} exists; revoke it first or choose another name")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        entries[_hash(key)] = {"name": name, "role": role, "created": datetime.now(timezone.utc).isoformat()}
        self._save(entries)
        logger.info("created API key %r with role %s", name, role)
        return key

    def revoke(self, name: str) -> bool:
        entries = self._load()
        remaining = {digest: entry for digest, entry in entries.items() if entry["name"] != name}
        if len(remaining) == len(entries):
            return False
        self._save(remaining)
        logger.info("revoked API key %r", name)
        return True

    def list(self) -> list[dict[str, Any]]:
        return sorted(self._load().values(), key=lambda entry: entry["name"])

    def authenticate(self, key: str) -> Principal | None:
        digest = _hash(key)
        for stored, entry in self._entries().items():
            if hmac.compare_digest(stored, digest):
                return Principal(entry["name"], entry["role"], True)
        return None


class Authenticator:
    """Turns a request's headers into a Principal."""

    def __init__(self, keys: ApiKeyStore, jwt_secret: str | None, anonymous_role: str,
                 jwt_audience: str | None = None, jwt_issuer: str | None = None) -> None:
        self.keys = keys
        self.jwt_secret = jwt_secret
        self.anonymous_role = check_role(anonymous_role)
        self.jwt_audience = jwt_audience
        self.jwt_issuer = jwt_issuer

    def principal(self, headers: Any) -> Principal:
        """Return the sender of a request; raise AuthenticationError for a credential that was sent but is rejected.

        A header that is present but empty counts as a credential that was sent, so a client whose
        key is unset fails instead of silently getting the anonymous role.
        """
        api_key = headers.get("x-api-key")
        bearer = self._bearer_token(headers.get("authorization"))
        if api_key is not None and not api_key.strip():
            raise AuthenticationError(f"the X-API-Key header is empty; {CREDENTIAL_HINT}", "invalid_request")
        if api_key is not None and bearer is not None and api_key.strip() != bearer:
            logger.warning("rejected a request with two different credentials (Authorization and X-API-Key)")
            raise AuthenticationError("the request has two different credentials, one in Authorization and one in "
                                      "X-API-Key; send one credential in one of the two headers", "invalid_request")
        token = api_key.strip() if api_key is not None else bearer
        if token is None:
            return Principal("anonymous", self.anonymous_role, False)
        if token.startswith(KEY_PREFIX):
            principal = self.keys.authenticate(token)
            if principal is None:
                logger.warning("rejected an unknown or revoked API key")
                raise AuthenticationError("invalid API key: it is unknown or was revoked")
            return principal
        return self._from_jwt(token)

    @staticmethod
    def _bearer_token(authorization: str | None) -> str | None:
        """Return the credential of an `Authorization: Bearer` header, or None when the header is absent."""
        if authorization is None:
            return None
        scheme, _, credential = authorization.strip().partition(" ")
        if not scheme:
            raise AuthenticationError(f"the Authorization header is empty; {CREDENTIAL_HINT}", "invalid_request")
        if scheme.lower() != "bearer":
            # A credential in another scheme (Basic, Digest) must not fall back to the anonymous role.
            raise AuthenticationError(f"unsupported Authorization scheme {scheme[:20]!r}; {CREDENTIAL_HINT}",
                                      "invalid_request")
        if not credential.strip():
            raise AuthenticationError(f"the Authorization header has the Bearer scheme but an empty credential; "
                                      f"{CREDENTIAL_HINT}", "invalid_request")
        return credential.strip()

    def _from_jwt(self, token: str) -> Principal:
        if not self.jwt_secret:
            raise AuthenticationError("JWT bearer tokens are not accepted: KG_JWT_SECRET is not set on this server")
        try:
            # With an audience or issuer configured, a token must carry that claim and match it.
            required = ["sub", "exp"]
            if self.jwt_audience:
                required.append("aud")
            if self.jwt_issuer:
                required.append("iss")
            claims = jwt.decode(token, self.jwt_secret, algorithms=["HS256"], audience=self.jwt_audience,
                                issuer=self.jwt_issuer, options={"require": required})
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the JWT has expired; request a new token") from None
        except jwt.InvalidTokenError as error:
            logger.warning("rejected an invalid JWT: %s", error)
            raise AuthenticationError(f"invalid JWT: {error}") from None
        subject = str(claims["sub"])
        if not subject.strip():
            # Every change records the subject as its author, so an empty one is rejected here.
            logger.warning("rejected a JWT with an empty sub claim")
            raise AuthenticationError("the JWT's sub claim is empty; issue the token with sub set to the user's "
                                      "name or id")
        role = claims.get("role", "reader")
        if role not in ROLES:
            raise AuthenticationError(f"the JWT's role {role!r} is not one of {', '.join(ROLES)}")
        return Principal(subject, role, True)


def www_authenticate(error: AuthenticationError) -> str:
    """Return the `WWW-Authenticate` header value (RFC 6750) of a request rejected for `error`.

    RFC 6750 allows only printable ASCII without `"` and `\\` in error_description, so other
    characters are replaced.
    """
    description = "".join(character if " " <= character <= "~" and character not in '"\\' else "?"
                          for character in str(error))
    return f'Bearer realm="{REALM}", error="{error.error}", error_description="{description}"'


class RejectedCredential(HTTPException):
    """HTTP 401 for a request whose credential was rejected, with its `WWW-Authenticate` header.

    Authentication runs before GraphQL does, so the response is plain text, not a GraphQL error.
    """

    def __init__(self, error: AuthenticationError) -> None:
        super().__init__(401, str(error))
        self.headers = {"WWW-Authenticate": www_authenticate(error)}


def request_principal(info: Info) -> Principal:
    """Return who sends this GraphQL request; raises AuthenticationError for a bad credential."""
    context = info.context
    if "principal" not in context:
        context["principal"] = context["authenticator"].principal(context["request"].headers)
    return context["principal"]


class RequireRole(BasePermission):
    """Field permission: the request's role must be at least `role`.

    Usage::

        @strawberry.mutation(permission_classes=[RequireRole.of("ontology-editor")])
        def rename_term(...): ...
    """

    role = "admin"
    message = "this operation needs a higher role"

    @classmethod
    def of(cls, role: str) -> type["RequireRole"]:
        check_role(role)
        return type(f"Require_{role.replace('-', '_')}", (cls,), {
            "role": role, "message": f"this operation needs the role {role} or higher; send an API key or JWT "
                                     "with that role in the Authorization header"})

    def on_unauthorized(self) -> None:
        # A KGServiceError reaches the client unmasked, so the message names the role that is needed.
        raise AuthorizationError(self.message)

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = request_principal(info)
        allowed = principal.has_role(self.role)
        if not allowed:
            logger.warning("denied %s (role %s) a field needing %s", principal.name, principal.role, self.role)
        return allowed
