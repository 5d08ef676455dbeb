"""Errors of the emulated service, in the shapes of the botocore model (reference §10).

Each error knows its HTTP status and the rest-json wire form: the `x-amzn-ErrorType` header
plus a JSON body with `message` and the modelled members, so botocore raises the matching
exception class (`client.exceptions.ConflictException`, ...).
"""

from __future__ import annotations

import json
import math

from starlette.responses import Response


class ApiError(Exception):
    code = "InternalServerException"
    status = 500

    def __init__(self, message: str, **members: object) -> None:
        super().__init__(message)
        self.message = message
        self.members = {k: v for k, v in members.items() if v is not None}

    def headers(self) -> dict[str, str]:
        return {"x-amzn-ErrorType": self.code, "Content-Type": "application/json"}

    def to_response(self) -> Response:
        body = {"message": self.message, **self.members}
        return Response(json.dumps(body), status_code=self.status, headers=self.headers())


class AccessDenied(ApiError):
    code, status = "AccessDeniedException", 403


class MissingAuthenticationToken(ApiError):
    code, status = "MissingAuthenticationTokenException", 403


class Conflict(ApiError):
    code, status = "ConflictException", 409


class InternalServer(ApiError):
    code, status = "InternalServerException", 500


class NotFound(ApiError):
    code, status = "ResourceNotFoundException", 404


class QuotaExceeded(ApiError):
    code, status = "ServiceQuotaExceededException", 402


class Validation(ApiError):
    code, status = "ValidationException", 400

    def __init__(self, message: str, reason: str = "FIELD_VALIDATION_FAILED") -> None:
        super().__init__(message, reason=reason)


class UnknownOperation(ApiError):
    code, status = "UnknownOperationException", 404


class Throttling(ApiError):
    code, status = "ThrottlingException", 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))

    def headers(self) -> dict[str, str]:
        # The model maps retryAfterSeconds to the Retry-After header, not the body.
        return {**super().headers(), "Retry-After": str(self.retry_after)}


class NativeError(Exception):
    """A plain HTTP error of a package-manager endpoint (text body, no AWS error shape)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None,
                 challenges: list[str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra_headers = headers or {}
        self.challenges = challenges or []  # one WWW-Authenticate field each

    def to_response(self, as_json: bool = False) -> Response:
        if as_json:
            body, ctype = json.dumps({"error": self.message}), "application/json"
        else:
            body, ctype = self.message + "\n", "text/plain; charset=utf-8"
        response = Response(body, self.status,
                            headers={"Content-Type": ctype, **self.extra_headers})
        for challenge in self.challenges:
            response.raw_headers.append((b"www-authenticate", challenge.encode()))
        return response
