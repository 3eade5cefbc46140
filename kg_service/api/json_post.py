"""A short ASGI path for the common GraphQL request: one JSON object sent with POST.

strawberry's view handles every kind of request: GET, batches, multipart uploads, streamed
results and the GraphiQL page. For each request it negotiates the content type (through
`email.message`), wraps the request and response in adapter objects and builds a Starlette
Response. `answer_json_post` does only what that view does for a POST of one JSON object
with `Content-Type: application/json`. It builds the same context (authentication included),
runs the same schema with the same extensions through the view's own `execute_single`,
`process_result` and `encode_json`, and sends the bytes as raw ASGI messages. Every other
request, and every body that the view would reject, goes to strawberry's view unchanged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from cross_web import HTTPException
from graphql import ExecutionResult
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from strawberry.http import GraphQLRequestData

if TYPE_CHECKING:
    from strawberry.asgi import GraphQL

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_MEDIA_TYPE = b"application/json"

# Largest JSON request body read, in bytes. The token limit bounds the query text and this bounds
# the variables. NOTE: other requests (multipart uploads) go to strawberry's view without this limit.
MAX_BODY_BYTES = 1024 * 1024

# Methods of strawberry's view (some of them private) that the short path calls.
VIEW_METHODS = ("get_root_value", "get_sub_response", "get_context", "execute_single", "process_result", "encode_json",
                "request_adapter_class", "_get_stream_transport_from_headers", "_handle_errors")


def view_supports_short_path(view: "GraphQL") -> bool:
    """Return whether the installed strawberry view has every method the short path calls."""
    missing = [name for name in VIEW_METHODS if not hasattr(view, name)]
    if missing:
        logger.warning("strawberry's view lacks %s; every request takes the view's own path", ", ".join(missing))
    return not missing


def is_json_post(scope: Scope) -> bool:
    """Return whether an HTTP request is a POST whose Content-Type is exactly application/json (parameters aside)."""
    if scope["method"] != "POST":
        return False
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == JSON_MEDIA_TYPE
    return False


class BodyTooLarge(Exception):
    """The request body is longer than MAX_BODY_BYTES."""


async def read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """Return the whole request body, or None when the client disconnected before sending it.

    Raise BodyTooLarge as soon as the body exceeds `limit` bytes, without reading the rest.
    """
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """Return a `receive` that yields the body read already once, then the client's later messages."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive_again() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return receive_again


def request_data(body: bytes) -> GraphQLRequestData | None:
    """Return the operation of a JSON object body, or None for a body that strawberry's view must handle.

    The view rejects a body that is not JSON, a batch (a JSON list) and fields of the wrong
    type with its own error responses, so such bodies go to the view.
    """
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    query, variables, extensions = data.get("query"), data.get("variables"), data.get("extensions")
    if not isinstance(query, (str, type(None))) or not isinstance(variables, (dict, type(None))):
        return None
    if not isinstance(extensions, (dict, type(None))):
        return None
    return GraphQLRequestData(query=query, variables=variables, operation_name=data.get("operationName"),
                              extensions=extensions, protocol="http")


async def answer_json_post(view: "GraphQL", scope: Scope, receive: Receive, send: Send,
                           fallback: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
    """Execute a JSON POST and send the response as strawberry's view would, or pass it to `fallback` (the view)."""
    try:
        body = await read_body(receive)
    except BodyTooLarge:
        logger.warning("rejected a GraphQL request body over %d bytes from %s", MAX_BODY_BYTES, scope.get("client"))
        message = (f"request body exceeds {MAX_BODY_BYTES} bytes; send a smaller query or fewer variables, "
                   "and split large inputs over several requests")
        await PlainTextResponse(message, status_code=413)(scope, receive, send)
        return
    if body is None:
        return
    request = Request(scope, replay(body, receive))
    operation = request_data(body)
    if operation is None or view._get_stream_transport_from_headers(request.headers) is not None:
        await fallback(scope, replay(body, receive), send)
        return

    try:
        result, sub_response = await _execute(view, request, operation)
    except HTTPException as error:
        # A rejected credential (auth.RejectedCredential) carries its WWW-Authenticate header.
        headers = getattr(error, "headers", None)
        await PlainTextResponse(error.reason, status_code=error.status_code, headers=headers)(scope, receive, send)
        return

    response_data = await view.process_result(request=request, result=result)
    if result.errors:
        view._handle_errors(result.errors, response_data)
    encoded = view.encode_json(response_data)
    content = encoded if isinstance(encoded, bytes) else encoded.encode("utf-8")
    headers = [(b"content-length", str(len(content)).encode("ascii")), (b"content-type", JSON_MEDIA_TYPE),
               *sub_response.headers.raw]
    await send({"type": "http.response.start", "status": sub_response.status_code or 200, "headers": headers})
    await send({"type": "http.response.body", "body": content})
    if sub_response.background is not None:
        await sub_response.background()


async def _execute(view: "GraphQL", request: Request, operation: GraphQLRequestData) -> tuple[ExecutionResult, Any]:
    """Build the context as the view does (it may raise HTTPException 401) and run the operation."""
    root_value = await view.get_root_value(request)
    sub_response = await view.get_sub_response(request)
    context = await view.get_context(request, response=sub_response)
    result = await view.execute_single(request=request, request_adapter=view.request_adapter_class(request),
                                       sub_response=sub_response, context=context, root_value=root_value,
                                       request_data=operation)
    return result, sub_response
