"""Channels: how a delivery leaves the building. Each ``send`` raises :class:`TransientError` (retry later)
or :class:`PermanentError` (retrying cannot help); returning means the other side accepted the delivery.

Every channel passes the delivery's idempotency key to the other side, so that a delivery sent twice
(a crash between "sent" and "marked sent") is recognisable there: the e-mail ``Message-ID``, the webhook
``Idempotency-Key`` header, the Matrix transaction id (which Matrix itself deduplicates).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import smtplib
import ssl
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qs, quote, unquote, urlsplit

import httpx

from notifications.models import Notification
from notifications.render import HeaderInjectionError, TemplateFailure, build_email, render_bodies
from talents.kernel.logs import get_logger
from talents.kernel.settings import NotificationSettings, get_settings

__all__ = [
    "Channel",
    "EmailChannel",
    "MatrixChannel",
    "PermanentError",
    "SmtpTarget",
    "TransientError",
    "WebhookChannel",
    "build_channels",
    "sign_webhook",
    "verify_webhook",
]


class TransientError(Exception):
    """The other side is down or busy: try again later."""


class PermanentError(Exception):
    """The delivery can never succeed as it is (bad address, refused by the server for good)."""


class Channel(Protocol):
    name: str

    def send(self, delivery: Notification) -> None: ...


# --------------------------------------------------------------------------- e-mail
@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    implicit_tls: bool

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        """``smtp://user:pass@host:port?starttls=true`` or ``smtps://…`` (TLS from the first byte)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("TALENTS_SMTP_URL must start with smtp:// or smtps://")
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (465 if implicit else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            starttls=query.get("starttls", "false") in ("1", "true", "yes", "on"),
            implicit_tls=implicit,
        )


class EmailChannel:
    """E-mail over SMTP, one connection per batch-sized burst (opened lazily, closed by :meth:`close`)."""

    name = "email"

    def __init__(self, url: str, timeout: float = 20.0, sender: str | None = None) -> None:
        self.target = SmtpTarget.parse(url)
        self.timeout = timeout
        self.sender = sender
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        t = self.target
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if t.implicit_tls:
            smtp = smtplib.SMTP_SSL(t.host, t.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(t.host, t.port, timeout=self.timeout)
            if t.starttls:
                smtp.starttls(context=context)
        if t.username:
            smtp.login(t.username, t.password or "")
        return smtp

    def send(self, delivery: Notification) -> None:
        try:
            message = build_email(delivery)
        except (HeaderInjectionError, ValueError) as exc:
            raise PermanentError(str(exc)) from exc
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            refused = self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(500 <= c < 600 for c in codes):
                raise PermanentError(f"recipient refused: {codes}") from exc
            raise TransientError(f"recipient refused for now: {codes}") from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            if 500 <= exc.smtp_code < 600 and exc.smtp_code not in (530, 535):
                raise PermanentError(f"SMTP {exc.smtp_code}") from exc
            raise TransientError(f"SMTP {exc.smtp_code}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise TransientError(f"SMTP unreachable: {type(exc).__name__}") from exc
        if refused:
            raise PermanentError(f"recipient refused: {list(refused)}")

    def end_batch(self) -> None:
        """Close the SMTP connection between dispatch rounds (relays drop idle ones anyway)."""
        self.close()

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(Exception):  # the connection may be dead already
                self._smtp.quit()
            self._smtp = None


# --------------------------------------------------------------------------- webhook
def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>`` — the receiver recomputes and compares."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_webhook(secret: str, header: str, body: bytes, *, now: float | None = None, tolerance_s: int = 300) -> bool:
    """For receivers: is ``X-Talents-Signature`` valid for ``body`` and recent (replays are refused)?"""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign_webhook(secret, timestamp, body), f"t={timestamp},v1={fields.get('v1', '')}")


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 300:
        return
    if response.status_code in (408, 409, 425, 429) or response.status_code >= 500:
        raise TransientError(f"HTTP {response.status_code}")
    raise PermanentError(f"HTTP {response.status_code}")


class WebhookChannel:
    """A JSON POST, signed (``X-Talents-Signature``) and carrying ``Idempotency-Key``."""

    name = "webhook"

    def __init__(self, url: str, secret: str, timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        self.url = url
        self.secret = secret
        self.client = client or httpx.Client(timeout=timeout)

    def send(self, delivery: Notification) -> None:
        body = json.dumps(
            {
                "id": delivery.key,
                "kind": delivery.kind,
                "subject": delivery.subject,
                "created_at": delivery.created_at.isoformat(),
                "data": delivery.data,
            },
            ensure_ascii=False,
            sort_keys=True,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": delivery.key,
            "X-Talents-Event": delivery.kind,
            "X-Talents-Signature": sign_webhook(self.secret, int(time.time()), body),
        }
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientError(f"webhook unreachable: {type(exc).__name__}") from exc
        _raise_for(response)

    def close(self) -> None:
        self.client.close()


class MatrixChannel:
    """A message in a Matrix room (Tchap): ``PUT …/send/m.room.message/{txnId}`` with txnId = the key.

    Matrix deduplicates on (access token, txnId): a delivery sent twice shows once in the room.
    """

    name = "matrix"

    def __init__(
        self,
        homeserver: str,
        room_id: str,
        access_token: str,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.homeserver = homeserver.rstrip("/")
        self.room_id = room_id
        self.access_token = access_token
        self.client = client or httpx.Client(timeout=timeout)

    def url_for(self, txn_id: str) -> str:
        room = quote(self.room_id, safe="")
        return f"{self.homeserver}/_matrix/client/v3/rooms/{room}/send/m.room.message/{quote(txn_id, safe='')}"

    def send(self, delivery: Notification) -> None:
        try:
            text, _html = render_bodies(delivery)
        except TemplateFailure as exc:
            raise PermanentError(str(exc)) from exc
        body = text.split("\n--\n", 1)[0].strip()
        if body.startswith("Bonjour"):  # a room is not a person: drop the greeting
            body = body.split("\n\n", 1)[-1]
        content = {
            "msgtype": "m.notice",
            "body": f"{delivery.subject}\n\n{body}",
            "format": "org.matrix.custom.html",
            "formatted_body": f"<b>{_escape(delivery.subject)}</b><br>{_escape(body).replace(chr(10), '<br>')}",
        }
        try:
            response = self.client.put(
                self.url_for(delivery.key),
                json=content,
                headers={"Authorization": f"Bearer {self.access_token}"},
            )
        except httpx.HTTPError as exc:
            raise TransientError(f"homeserver unreachable: {type(exc).__name__}") from exc
        _raise_for(response)

    def close(self) -> None:
        self.client.close()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_channels(settings: NotificationSettings | None = None) -> dict[str, Channel]:
    """The channels the settings configure. E-mail without ``TALENTS_SMTP_URL`` is absent: mails wait."""
    s = settings or get_settings().notifications
    channels: dict[str, Channel] = {}
    if s.smtp_url:
        channels["email"] = EmailChannel(s.smtp_url, timeout=s.smtp_timeout_s)
    if s.webhook_url:
        if not s.webhook_secret:
            get_logger("talents.notifications").warning(
                "webhook_unsigned", note="TALENTS_WEBHOOK_SECRET is empty: receivers cannot verify the signature"
            )
        channels["webhook"] = WebhookChannel(s.webhook_url, s.webhook_secret, timeout=s.webhook_timeout_s)
    if s.matrix_homeserver and s.matrix_room_id:
        channels["matrix"] = MatrixChannel(
            s.matrix_homeserver, s.matrix_room_id, s.matrix_access_token, timeout=s.webhook_timeout_s
        )
    return channels
