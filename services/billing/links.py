"""Short-lived signed download links: billing signs them for one user and one file and checks them
when the file is asked for (the caller must be that user, before the expiry)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

from portalkit.errors import Forbidden


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    def __init__(self, secret: bytes, public_url: str) -> None:
        self._secret = secret
        self.public_url = public_url.rstrip("/")

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest()[:20])

    def token(self, kind: str, item_id: str, user_id: str, expires_at: datetime) -> str:
        body = _b64(json.dumps([kind, item_id, user_id, int(expires_at.timestamp())]).encode())
        return f"{body}.{self._mac(body)}"

    def url(self, kind: str, item_id: str, user_id: str, expires_at: datetime) -> str:
        return f"{self.public_url}/downloads/{kind}/{item_id}?token={self.token(kind, item_id, user_id, expires_at)}"

    def check(self, token: str, kind: str, item_id: str, user_id: str, now: datetime) -> None:
        """Refuses a forged or altered token, one for another file or user, and an expired one."""
        try:
            body, mac = token.split(".")
            if not hmac.compare_digest(mac, self._mac(body)):
                raise ValueError("bad signature")
            signed_kind, signed_id, signed_user, expires = json.loads(_unb64(body))
        except (ValueError, TypeError) as exc:
            raise Forbidden("this download link is not valid", reason="INVALID_DOWNLOAD_LINK") from exc
        if (signed_kind, signed_id) != (kind, item_id):
            raise Forbidden("this download link is not valid", reason="INVALID_DOWNLOAD_LINK")
        if signed_user != user_id:
            raise Forbidden("this download link was made for another user", reason="DOWNLOAD_LINK_OTHER_USER")
        if now >= datetime.fromtimestamp(int(expires), UTC):
            raise Forbidden("this download link has expired", reason="DOWNLOAD_LINK_EXPIRED")
