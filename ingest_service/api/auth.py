"""Bearer API keys with read and admin scopes, compared in constant time.

Every configured key is compared with the presented one on every request (``hmac.compare_digest`` over SHA-256
digests, so neither the position of the matching key, nor a key's length, nor a common prefix changes the time
taken). Missing and wrong keys get the same ``401`` (the answer never says which keys exist); a valid read key
on an admin endpoint gets ``403``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

import falcon

__all__ = ["ADMIN", "READ", "KeyChecker"]

READ = "read"
ADMIN = "admin"
_log = logging.getLogger(__name__)
_CHALLENGE = 'Bearer realm="analytics"'


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


class KeyChecker:
    """Decides the scope of a request from its ``Authorization: Bearer <key>`` header.

    Parameters
    ----------
    read_keys, admin_keys:
        The configured keys (an admin key can also read).
    """

    def __init__(self, read_keys: tuple[str, ...], admin_keys: tuple[str, ...]) -> None:
        self._keys = [(_digest(k), READ) for k in read_keys] + [(_digest(k), ADMIN) for k in admin_keys]
        if not self._keys:
            _log.warning("no ANALYTICS_READ_KEYS/ANALYTICS_ADMIN_KEYS configured: the analytics API refuses "
                         "every request (401)")  # fmt: skip

    def scope_of(self, token: str | None) -> str | None:
        """``"admin"``, ``"read"`` or ``None``; the time taken does not depend on which key matched."""
        presented = _digest(token or "")
        read = admin = False
        for digest, scope in self._keys:  # no early exit
            match = hmac.compare_digest(presented, digest)
            read |= match
            admin |= match and scope == ADMIN
        if token is None:
            return None
        return ADMIN if admin else READ if read else None

    def require(self, req: falcon.Request, needed: str) -> str:
        """Raise 401/403 unless the request carries a key of scope ``needed``; returns the scope held."""
        header = req.get_header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" and token.strip() else None
        scope = self.scope_of(token)
        if scope is None:
            raise falcon.HTTPUnauthorized(
                title="Unauthorized",
                description="a valid API key is required: send 'Authorization: Bearer <key>'",
                code="unauthorized",
                challenges=[_CHALLENGE],
            )
        if needed == ADMIN and scope != ADMIN:
            raise falcon.HTTPForbidden(
                title="Forbidden", description="this endpoint needs an admin key", code="admin_key_required"
            )
        return scope

