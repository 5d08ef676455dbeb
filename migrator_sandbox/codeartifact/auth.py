"""Authorization tokens (reference §1.3): opaque strings with a real expiry.

Native endpoints take the token as HTTP Basic `aws:<token>` (Maven, twine, pip) or as
`Bearer <token>` (npm); a missing, unknown or expired token gets 401 with both challenges.
"""

from __future__ import annotations

import base64
import secrets

from .errors import NativeError, Validation
from .store import Store


def mint_token(store: Store, duration: int | None) -> tuple[str, float]:
    if duration is None:
        seconds = store.behaviour.token_default_duration
    elif duration == 0:
        # 0 = "as long as the assumed role session"; the sandbox has no session, so a switch.
        seconds = store.behaviour.session_token_duration
    elif 900 <= duration <= 43200:
        seconds = duration
    else:
        raise Validation(
            f"Value '{duration}' at 'durationSeconds' failed to satisfy constraint: "
            "Member must be 0 or between 900 and 43200"
        )
    token = secrets.token_urlsafe(96)
    expiry = store.clock() + seconds
    with store.lock:
        store.tokens[token] = expiry
    return token, expiry


def token_from_header(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip()).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        _user, _, password = decoded.partition(":")
        return password or None
    return None


def require_token(store: Store, authorization: str | None, realm: str) -> str:
    token = token_from_header(authorization)
    expiry = store.tokens.get(token) if token else None
    if expiry is None or expiry <= store.clock():
        bearer, basic = f'Bearer realm="{realm}"', f'Basic realm="{realm}"'
        if store.behaviour.combined_challenge:
            raise NativeError(401, "Unauthorized", {"WWW-Authenticate": f"{bearer}, {basic}"})
        raise NativeError(401, "Unauthorized", challenges=[bearer, basic])
    return token
