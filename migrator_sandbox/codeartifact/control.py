"""The control plane: requests routed by botocore's service model to operation handlers.

Handlers live in `ops_*.py` and register with `@operation("Name")`. A handler receives the
validated input members and returns the output members (or a ready Response for the few
operations with header or streaming outputs). Unknown routes answer like AWS does.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from .errors import ApiError, MissingAuthenticationToken, UnknownOperation, Validation
from .store import Store
from .validation import parse_input, routes, service_model

HANDLERS: dict[str, Callable] = {}


def operation(name: str) -> Callable:
    def register(fn: Callable) -> Callable:
        HANDLERS[name] = fn
        return fn

    return register


@dataclass
class Ctx:
    store: Store
    base_url: str  # scheme://host:port of the request, for GetRepositoryEndpoint
    upstream: object = None  # the Upstreams resolver (upstream.py), for origin checks


def page(items: list, max_results: int | None, token: str | None,
         default: int = 100) -> tuple[list, str | None]:
    """Slice a list by `max-results`/`next-token`; tokens are opaque offsets."""
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except ValueError:
            raise Validation("Invalid pagination token", reason="OTHER") from None
    size = max_results or default
    chunk = items[start : start + size]
    more = start + size < len(items)
    nxt = base64.urlsafe_b64encode(str(start + size).encode()).decode() if more else None
    return chunk, nxt


def operation_name(method: str, path: str) -> str | None:
    return routes().get((method, path.rstrip("/") or "/"))


async def handle(request: Request, ctx: Ctx) -> Response:
    name = operation_name(request.method, request.url.path)
    try:
        if name is None:
            raise UnknownOperation(f"Unknown operation {request.method} {request.url.path}")
        if not request.headers.get("authorization"):
            # SigV4 signatures are not checked, but an unsigned call is refused as on AWS.
            raise MissingAuthenticationToken("Missing Authentication Token")
        op = service_model().operation_model(name)
        query = parse_qs(request.url.query, keep_blank_values=True)
        body = await request.body()
        params = parse_input(op, query, {k.lower(): v for k, v in request.headers.items()},
                             body)
        _note_for_request_log(request, params)
        handler = HANDLERS.get(name)
        if handler is None:
            raise UnknownOperation(f"Operation {name} is not emulated")
        result = handler(ctx, params)
        if hasattr(result, "__await__"):
            result = await result
        if not name.startswith(("Get", "List", "Describe")):
            ctx.store.save()
        if not isinstance(result, Response):
            result = Response(json.dumps(result or {}), 200,
                              headers={"Content-Type": "application/json"})
    except ApiError as exc:
        result = exc.to_response()
    result.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return result


def _note_for_request_log(request: Request, params: dict) -> None:
    state = request.scope.setdefault("state", {})
    if "repository" in params:
        state["repository"] = params["repository"]
    if {"package", "packageVersion", "assetName"} <= params.keys() or \
            {"package", "packageVersion", "asset"} <= params.keys():
        asset = params.get("assetName") or params.get("asset")
        state["asset"] = (f"{params['domain']}/{params['repository']}/{params['format']}/"
                          f"{params.get('namespace', '')}/{params['package']}/"
                          f"{params['packageVersion']}/{asset}")
