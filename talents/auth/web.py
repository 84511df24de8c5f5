"""Sign-in and sign-out: OpenID Connect (ProConnect) and, only when ``TALENTS_DEMO=true``, an e-mail sign-in.

``GET /auth/login?next=/path``   starts the code flow (state, nonce, PKCE kept server-side, bound to a cookie)
``GET /auth/oidc/callback``      checks state, exchanges the code, checks the id_token, opens a new session
``GET|POST /auth/logout``        confirms, then ends the session and goes through the provider's end-session
``GET /auth/logged-out``         where the provider sends people back
``GET|POST /auth/demo``          the demo's sign-in (404 unless the demo is on)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from html import escape
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect
from sqlmodel import Session, select

from talents.auth.models import LoginFlow
from talents.auth.oidc import OIDCError, get_client, new_secret
from talents.auth.service import SessionService, UserService, digest, same_secret
from talents.kernel.access import caller_of
from talents.kernel.db import as_utc, utcnow
from talents.kernel.errors import PermissionDeniedError
from talents.kernel.logs import get_logger
from talents.kernel.principal import AGENT, ANONYMOUS, ROLES
from talents.kernel.settings import get_settings
from talents.layout import message_page

__all__ = ["route_handlers", "safe_next"]

FLOW_COOKIE = "talents_oidc"
LOGOUT_COOKIE = "talents_logout"
FLOW_TTL = timedelta(minutes=10)
_SIGNIN = {"public": True, "signin": True, "db_writes": True}
log = get_logger("talents.auth")


def safe_next(value: str | None) -> str:
    """Only paths of this site: no scheme, no host, no ``//evil``, no backslash tricks."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 500:
        return "/"
    if any(ord(c) < 32 for c in value):
        return "/"
    return value


def _page(title: str, body: str, status: int = 200) -> Response[Any]:
    """A sign-in page in the site's layout (State design system); ``body`` is trusted, escaped HTML."""
    page = message_page(ANONYMOUS, title, "", status=status, body_html=body)
    page.headers.update({"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    return page  # type: ignore[return-value]


def _cookie_args(max_age: int, path: str = "/", http_only: bool = True) -> dict[str, Any]:
    return {"max_age": max_age, "path": path, "secure": get_settings().cookie_secure, "httponly": http_only,
            "samesite": "lax"}


def _open_session(db_session: Session, response: Response[Any], request: Request[Any, Any, Any], *, email: str,
                  name: str, mfa: bool, method: str, id_token: str = "", roles_if_new: tuple[str, ...] = (),
                  add_roles: tuple[str, ...] = ()) -> None:
    """A NEW session id at every sign-in (the old one, if any, is ended): no session fixation."""
    settings = get_settings().auth
    users = UserService(db_session)
    user = users.by_email(email)
    user = users.ensure(email, (*(roles_if_new if user is None else ()), *add_roles), name=name)
    if not user.active:
        raise PermissionDeniedError("this account is disabled")
    sessions = SessionService(db_session)
    old = request.cookies.get(settings.session_cookie)
    if old:
        sessions.end(old)
    sid, row = sessions.start(user, mfa=mfa, method=method, id_token=id_token)
    max_age = settings.session_absolute_hours * 3600
    response.set_cookie(settings.session_cookie, sid, **_cookie_args(max_age))
    response.set_cookie(settings.csrf_cookie, row.csrf_token, **_cookie_args(max_age, http_only=False))
    log.info("signed_in", method=method, user_id=user.id, mfa=mfa)


def _refuse(message: str, status: int = 401) -> Response[str]:
    log.info("signin_refused", reason=message)
    return _page("Connexion impossible", f"<p>{escape(message)}</p><p><a href=\"/auth/login\">Réessayer</a></p>",
                 status)


# --------------------------------------------------------------------------- OpenID Connect
@get("/auth/login", include_in_schema=False, sync_to_thread=True, opt=_SIGNIN)
def login(request: Request[Any, Any, Any], db_session: Session) -> Response[Any]:
    target = safe_next(request.query_params.get("next"))
    client = get_client()
    if client is None:
        if get_settings().app.demo:
            return Redirect(path=f"/auth/demo?next={target}")
        return _page("Connexion indisponible", "<p>La connexion ProConnect n'est pas configurée.</p>", 503)
    flow_id, state, nonce, verifier = new_secret(), new_secret(), new_secret(), new_secret()
    try:
        url = client.authorization_url(state, nonce, verifier)
    except OIDCError as exc:
        log.warning("oidc_unavailable", reason=str(exc))
        return _page("Connexion indisponible", "<p>Le fournisseur d'identité ne répond pas.</p>", 503)
    db_session.add(LoginFlow(flow_hash=digest(flow_id), state=state, nonce=nonce, code_verifier=verifier,
                             next_url=target))
    response: Response[Any] = Redirect(path=url)
    response.set_cookie(FLOW_COOKIE, flow_id, **_cookie_args(int(FLOW_TTL.total_seconds()), path="/auth"))
    return response


@get("/auth/oidc/callback", include_in_schema=False, sync_to_thread=True, opt=_SIGNIN)
def callback(request: Request[Any, Any, Any], db_session: Session) -> Response[Any]:
    params = request.query_params
    flow_id = request.cookies.get(FLOW_COOKIE, "")
    flow = db_session.exec(select(LoginFlow).where(LoginFlow.flow_hash == digest(flow_id))).first() \
        if flow_id else None
    if flow is None:
        return _refuse("Cette connexion a expiré ou a déjà été utilisée.", 400)
    db_session.delete(flow)  # a flow is used once, whatever happens next
    db_session.flush()
    if utcnow() - as_utc(flow.created_at) > FLOW_TTL:
        return _refuse("Cette connexion a expiré.", 400)
    if params.get("error"):
        return _refuse("Le fournisseur d'identité a refusé la connexion.")
    state, code = params.get("state") or "", params.get("code") or ""
    if not state or not same_secret(state, flow.state):
        return _refuse("La réponse ne correspond pas à cette connexion (state).", 400)
    client = get_client()
    if client is None or not code:
        return _refuse("Connexion incomplète.", 400)
    try:
        signed = client.finish(code, flow.nonce, flow.code_verifier)
    except OIDCError as exc:
        log.warning("oidc_rejected", reason=str(exc))
        return _refuse("La réponse du fournisseur d'identité n'est pas valide.")
    response: Response[Any] = Redirect(path=flow.next_url)
    _open_session(db_session, response, request, email=signed.email, name=signed.name, mfa=signed.mfa,
                  method="oidc", id_token=signed.id_token, roles_if_new=(AGENT,))
    # (Every civil servant may keep a profile: new accounts are agents; admins grant the other roles.)
    response.delete_cookie(FLOW_COOKIE, path="/auth")
    return response


# --------------------------------------------------------------------------- sign-out
@get("/auth/logout", include_in_schema=False, sync_to_thread=False, opt={"public": True})
def logout_page(request: Request[Any, Any, Any]) -> Response[Any]:
    caller = caller_of(request.scope)
    if caller.session_id is None:
        return Redirect(path="/")
    token = escape(caller.csrf_token or "")
    return _page("Se déconnecter", f'<form method="post" action="/auth/logout">'
                                   f'<input type="hidden" name="csrf_token" value="{token}">'
                                   f'<button class="fr-btn" type="submit">Se déconnecter</button></form>')


@post("/auth/logout", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def logout(request: Request[Any, Any, Any], db_session: Session) -> Response[Any]:
    settings = get_settings()
    caller = caller_of(request.scope)
    row = SessionService(db_session).end(caller.session_id) if caller.session_id else None
    base = settings.app.base_url.rstrip("/")
    back = settings.auth.oidc_post_logout_redirect_uri or f"{base}/auth/logged-out"
    target = "/auth/logged-out"
    state = new_secret()
    client = get_client()
    if row is not None and row.id_token and client is not None:
        try:
            target = client.logout_url(row.id_token, state, back) or target
        except OIDCError as exc:
            log.warning("oidc_unavailable", reason=str(exc))
    response: Response[Any] = Redirect(path=target, status_code=303)
    response.delete_cookie(settings.auth.session_cookie, path="/")
    response.delete_cookie(settings.auth.csrf_cookie, path="/")
    response.set_cookie(LOGOUT_COOKIE, state, **_cookie_args(600, path="/auth"))
    log.info("signed_out", had_session=row is not None)
    return response


@get("/auth/logged-out", include_in_schema=False, sync_to_thread=False, opt={"public": True})
def logged_out(request: Request[Any, Any, Any]) -> Response[Any]:
    expected = request.cookies.get(LOGOUT_COOKIE, "")
    state = request.query_params.get("state")
    if state is not None and not (expected and same_secret(state, expected)):
        log.info("logout_state_mismatch")
    response = _page("Vous êtes déconnecté", '<p><a href="/">Revenir à l\'accueil</a></p>')
    response.delete_cookie(LOGOUT_COOKIE, path="/auth")
    return response


# --------------------------------------------------------------------------- demo sign-in
@dataclass
class DemoSignIn:
    email: str
    role: str = AGENT
    next: str = "/"


@get("/auth/demo", include_in_schema=False, sync_to_thread=False, opt={"public": True})
def demo_page(request: Request[Any, Any, Any]) -> Response[Any]:
    if not get_settings().app.demo:
        return _page("Introuvable", "<p>Cette page n'existe pas.</p>", 404)
    target = escape(safe_next(request.query_params.get("next")))
    labels = {"agent": "Agent", "manager": "Responsable", "lead": "Porteur de projet", "reviewer": "DINUM",
              "admin": "Administrateur"}
    options = "".join(f'<option value="{r}">{labels.get(r, r)}</option>' for r in ROLES)
    return _page("Connexion de démonstration",
                 '<div class="fr-alert fr-alert--warning fr-mb-4w"><p>Démonstration seulement : aucune '
                 "vérification d'identité.</p></div>"
                 f'<form method="post" action="/auth/demo"><input type="hidden" name="next" value="{target}">'
                 '<div class="fr-input-group"><label class="fr-label" for="email">Adresse électronique</label>'
                 '<input class="fr-input" type="email" id="email" name="email" autocomplete="email" required></div>'
                 '<div class="fr-select-group"><label class="fr-label" for="role">Rôle</label>'
                 f'<select class="fr-select" id="role" name="role">{options}</select></div>'
                 '<button class="fr-btn fr-mb-4w" type="submit">Se connecter</button></form>')


@post("/auth/demo", include_in_schema=False, sync_to_thread=True, opt={**_SIGNIN, "csrf_exempt": True})
def demo_login(request: Request[Any, Any, Any], db_session: Session,
               data: Annotated[DemoSignIn, Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Response[Any]:
    if not get_settings().app.demo:
        return _page("Introuvable", "<p>Cette page n'existe pas.</p>", 404)
    email = data.email.strip()
    if "@" not in email or len(email) > 254 or data.role not in ROLES:
        return _page("Connexion impossible", "<p>Adresse ou rôle invalide.</p>", 422)
    response: Response[Any] = Redirect(path=safe_next(data.next), status_code=303)
    # Demo sessions count as multi-factor, so that the reviewer's pages can be shown.
    _open_session(db_session, response, request, email=email, name="", mfa=True, method="demo",
                  add_roles=(data.role,))
    return response


route_handlers: list[Any] = [login, callback, logout_page, logout, logged_out, demo_page, demo_login]
