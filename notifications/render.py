"""French messages (Jinja2, plain text and HTML), unsubscribe tokens and e-mails safe from header injection."""

from __future__ import annotations

import re
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from itsdangerous import BadSignature, URLSafeTimedSerializer

from notifications.models import Notification
from talents.kernel.db import as_utc
from talents.kernel.fields import is_valid_email
from talents.kernel.french import FILTERS
from talents.kernel.logs import get_logger
from talents.kernel.settings import get_settings

__all__ = [
    "HeaderInjectionError",
    "TemplateFailure",
    "as_utc",
    "build_email",
    "message_id",
    "read_unsubscribe_token",
    "render_bodies",
    "render_subject",
    "safe_header",
    "unsubscribe_token",
    "unsubscribe_url",
]

_TEMPLATES = Path(__file__).parent / "templates"
# Long header values (the unsubscribe link) stay one line instead of turning into encoded words.
_POLICY = policy.default.clone(max_line_length=998)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]")


class HeaderInjectionError(ValueError):
    """A header value carried a line break or another control character."""


@lru_cache(maxsize=2)
def _env(html: bool) -> jinja2.Environment:
    # Two environments over the same files: HTML escapes every value, plain text and subjects do not.
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=html,  # noqa: S701  # nosec B701 - False only for plain text and subjects, never HTML
        undefined=jinja2.ChainableUndefined,
        trim_blocks=False,
        keep_trailing_newline=False,
    )
    # Data carries ISO dates and shares (0.6); the templates show « 4 janvier 2027 » and « 60 % ».
    environment.filters.update(FILTERS)
    return environment


def _template_name(kind: str) -> str:
    return f"kinds/{kind}.j2" if (_TEMPLATES / "kinds" / f"{kind}.j2").is_file() else "kinds/generic.j2"


def safe_header(value: str, *, max_length: int = 250) -> str:
    """Collapse whitespace and drop control characters: a value from data can never add a header line."""
    return _CONTROL.sub(" ", " ".join(str(value).split()))[:max_length].strip()


class TemplateFailure(ValueError):
    """A template could not render this delivery's data (retrying will not help)."""


def render_subject(kind: str, data: dict[str, Any]) -> str:
    """The subject line. Never raises: the subscriber runs inside someone else's transaction."""
    try:
        template = _env(False).get_template(_template_name(kind))
        context = template.new_context({"fmt": "text", **data})
        return safe_header("".join(template.blocks["subject"](context))) or "Talents"
    except Exception:  # noqa: BLE001 - a bad value in event data must not roll back the business change
        get_logger("talents.notifications").exception("notification_subject_failed", kind=kind)
        return "Talents : nouvelle notification"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().app.secret_key, salt="talents.notifications.unsubscribe")


def unsubscribe_token(email: str, kind: str = "*") -> str:
    """A signed token naming the address and the kind (``*`` = everything) to stop e-mailing."""
    return str(_serializer().dumps({"e": email, "k": kind}))


def read_unsubscribe_token(token: str) -> tuple[str, str] | None:
    """The (email, kind) a token names, or None when it is forged, altered or too old."""
    max_age = get_settings().notifications.unsubscribe_max_age_days * 86400
    try:
        payload = _serializer().loads(token, max_age=max_age)
    except BadSignature:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("e"), str):
        return None
    return payload["e"], str(payload.get("k") or "*")


def unsubscribe_url(email: str, kind: str = "*") -> str:
    base = get_settings().app.base_url.rstrip("/")
    return f"{base}/notifications/unsubscribe?token={unsubscribe_token(email, kind)}"


def _context(row: Notification) -> dict[str, Any]:
    base = get_settings().app.base_url.rstrip("/")
    data = dict(row.data)
    personal = row.channel in ("email", "inapp")
    greeting = data.get("agent_name") if row.recipient == data.get("agent_email") else None
    return {
        **data,
        "fmt": "text",
        "subject": row.subject,
        "recipient": row.recipient,
        "greeting_name": greeting,
        "app_url": base,
        "link": data.get("url") or base,
        "preferences_url": f"{base}/me/notifications" if personal else None,
        "unsubscribe_url": unsubscribe_url(row.recipient, row.kind) if row.channel == "email" else None,
    }


def render_bodies(row: Notification) -> tuple[str, str]:
    """The plain-text and HTML bodies of a delivery."""
    try:
        return _render_bodies(row)
    except Exception as exc:  # noqa: BLE001 - template errors are permanent for this delivery
        raise TemplateFailure(f"template {row.kind}: {type(exc).__name__}: {exc}") from exc


def _render_bodies(row: Notification) -> tuple[str, str]:
    context = _context(row)
    text = _env(False).get_template(_template_name(row.kind)).render({**context, "fmt": "text"})
    html = _env(True).get_template(_template_name(row.kind)).render({**context, "fmt": "html"})
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return text, html


def message_id(key: str) -> str:
    """The Message-ID of a delivery: its idempotency key, so that a resent mail is recognisable."""
    return f"<{key}@{get_settings().notifications.mail_domain}>"


def _address(value: str) -> Address:
    if _CONTROL.search(value):
        raise HeaderInjectionError("an address carries a control character")
    name, addr = parseaddr(value)
    if not addr or "@" not in addr or addr.count("@") != 1:
        raise HeaderInjectionError(f"not an address: {value!r}")
    local, domain = addr.split("@")
    return Address(display_name=safe_header(name), username=local, domain=domain)


def build_email(row: Notification) -> EmailMessage:
    """The e-mail of a delivery: French text and HTML parts, Message-ID = key, one-click unsubscribe."""
    settings = get_settings().notifications
    if not is_valid_email(row.recipient, ascii_only=True):
        raise HeaderInjectionError("the recipient is not a plain address")
    text, html = render_bodies(row)
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = _address(settings.mail_from)
    msg["To"] = _address(row.recipient)
    msg["Subject"] = safe_header(row.subject) or "Talents"
    msg["Message-ID"] = message_id(row.key)
    msg["Date"] = format_datetime(as_utc(row.created_at))
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Talents-Kind"] = safe_header(row.kind)
    msg["X-Talents-Idempotency-Key"] = row.key
    link = unsubscribe_url(row.recipient, row.kind)
    msg["List-Unsubscribe"] = f"<{link}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text, charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg
