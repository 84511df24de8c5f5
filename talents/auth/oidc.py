"""An OpenID Connect relying party for ProConnect (and any compliant provider).

Authorization code flow with ``state``, ``nonce`` and PKCE (S256); the ``id_token`` is checked (signature through
the provider's JWKS, RS256/ES256 only, issuer, audience, expiry, nonce); userinfo is read as a signed JWT
(``application/jwt``, as ProConnect answers) or as JSON. Accounts are matched on the work e-mail, never on
``sub`` (ProConnect's ``sub`` differs per identity provider).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from talents.kernel.logs import get_logger
from talents.kernel.settings import get_settings

__all__ = ["ALGORITHMS", "OIDCClient", "OIDCError", "SignIn", "get_client", "new_secret", "pkce_challenge"]

ALGORITHMS = ["RS256", "ES256"]
log = get_logger("talents.auth.oidc")
# httpcore's DEBUG lines echo request and response headers: client credentials, tokens, redirect URLs.
logging.getLogger("httpcore").setLevel(max(logging.getLogger("httpcore").level, logging.INFO))


class OIDCError(Exception):
    """The provider's answer cannot be trusted or used; the message is safe to log (no secrets)."""


def new_secret() -> str:
    """43 URL-safe characters (256 bits): states, nonces, PKCE verifiers."""
    return secrets.token_urlsafe(32)


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SignIn:
    """What a successful callback yields."""

    email: str
    name: str
    sub: str
    mfa: bool
    id_token: str
    claims: dict[str, Any] = field(default_factory=dict)


class OIDCClient:
    """One provider. Discovery and keys are cached; the keys are fetched again when a ``kid`` is unknown."""

    def __init__(self, issuer: str, client_id: str, client_secret: str, redirect_uri: str, *,
                 scopes: str = "openid email", acr_values: str = "", mfa_acr_values: str = "", request_amr: bool = True,
                 timeout_s: float = 10.0, clock_skew_s: int = 60, http: httpx.Client | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scopes = scopes
        self.acr_values = acr_values
        self.request_amr = request_amr
        self.mfa_acr_values = frozenset(mfa_acr_values.split())
        self.clock_skew_s = clock_skew_s
        self.http = http or httpx.Client(timeout=timeout_s, follow_redirects=False)
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ provider metadata and keys
    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None or time.monotonic() - self._metadata_at > 3600:
                url = f"{self.issuer}/.well-known/openid-configuration"
                data = self._get_json(url)
                if str(data.get("issuer", "")).rstrip("/") != self.issuer:
                    raise OIDCError("the discovery document names another issuer")
                for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not data.get(key):
                        raise OIDCError(f"the discovery document has no {key}")
                self._metadata, self._metadata_at = data, time.monotonic()
            return self._metadata

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self.http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OIDCError(f"cannot read {url}: {type(exc).__name__}") from exc
        if not isinstance(data, dict):
            raise OIDCError(f"{url} did not answer a JSON object")
        return data

    def _keyset(self, refresh: bool = False) -> KeySet:
        keys = self._keys
        if keys is None or refresh:
            jwks = self._get_json(self.metadata()["jwks_uri"])
            try:
                keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError) as exc:
                raise OIDCError("the provider's JWKS cannot be read") from exc
            self._keys = keys
        return keys

    def _decode(self, token: str) -> dict[str, Any]:
        """Check the signature (RS256/ES256 only) and return the claims."""
        for attempt in (0, 1):
            try:
                return dict(jwt.decode(token, self._keyset(refresh=attempt == 1), algorithms=ALGORITHMS).claims)
            except (JoseError, ValueError, TypeError) as exc:
                if attempt == 1:
                    raise OIDCError(f"the token's signature is not valid ({type(exc).__name__})") from exc
        raise OIDCError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ the flow
    def uses_pkce(self) -> bool:
        # ProConnect refuses any parameter it does not know: PKCE only where the provider advertises it.
        return "S256" in (self.metadata().get("code_challenge_methods_supported") or [])

    def authorization_url(self, state: str, nonce: str, code_verifier: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scopes,
            "state": state,
            "nonce": nonce,
        }
        if self.request_amr:
            # ProConnect returns ``amr`` (how the person authenticated, e.g. "mfa") only when asked.
            params["claims"] = json.dumps({"id_token": {"amr": {"essential": True}}}, separators=(",", ":"))
        if self.uses_pkce():
            params |= {"code_challenge": pkce_challenge(code_verifier), "code_challenge_method": "S256"}
        if self.acr_values:
            params["acr_values"] = self.acr_values
        return f"{self.metadata()['authorization_endpoint']}?{urlencode(params)}"

    def finish(self, code: str, nonce: str, code_verifier: str) -> SignIn:
        """Exchange the code, check the id_token, read userinfo; the e-mail is the account key."""
        meta = self.metadata()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        if self.uses_pkce():
            form["code_verifier"] = code_verifier
        methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        headers = {"Accept": "application/json"}
        if "client_secret_post" in methods:  # what ProConnect documents
            form |= {"client_id": self.client_id, "client_secret": self.client_secret}
        else:
            # RFC 6749 §2.3.1: both parts form-urlencoded before the Basic encoding.
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        try:
            response = self.http.post(meta["token_endpoint"], data=form, headers=headers)
            tokens = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OIDCError(f"the token endpoint failed: {type(exc).__name__}") from exc
        if response.status_code != 200 or not isinstance(tokens, dict) or not tokens.get("id_token"):
            error = tokens.get("error", "") if isinstance(tokens, dict) else ""
            raise OIDCError(f"the token endpoint refused the code ({response.status_code} {str(error)[:60]})")
        id_token = str(tokens["id_token"])
        claims = self.check_id_token(id_token, nonce)
        info = self.userinfo(str(tokens.get("access_token", ""))) if meta.get("userinfo_endpoint") else {}
        if info and info.get("sub") != claims.get("sub"):
            raise OIDCError("userinfo is about someone else (sub differs)")
        merged = {**claims, **info}
        email = str(merged.get("email") or "").strip()
        if "@" not in email:
            raise OIDCError("the provider gave no e-mail address")
        name = " ".join(str(merged.get(k) or "") for k in ("given_name", "usual_name")).strip() or \
            str(merged.get("name") or "")
        return SignIn(email=email, name=name[:200], sub=str(claims["sub"]), mfa=self.is_mfa(claims),
                      id_token=id_token, claims=merged)

    def check_id_token(self, id_token: str, nonce: str, now: float | None = None) -> dict[str, Any]:
        claims = self._decode(id_token)
        now = time.time() if now is None else now
        if str(claims.get("iss", "")).rstrip("/") != self.issuer:
            raise OIDCError("the id_token comes from another issuer")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.client_id not in audiences:
            raise OIDCError("the id_token is meant for another client")
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise OIDCError("the id_token has several audiences and we are not its authorized party")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp + self.clock_skew_s < now:
            raise OIDCError("the id_token has expired")
        iat = claims.get("iat")
        if isinstance(iat, (int, float)) and iat - self.clock_skew_s > now:
            raise OIDCError("the id_token was issued in the future")
        if not nonce or not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OIDCError("the id_token's nonce does not match this sign-in")
        if not claims.get("sub"):
            raise OIDCError("the id_token has no subject")
        return claims

    def userinfo(self, access_token: str) -> dict[str, Any]:
        try:
            response = self.http.get(self.metadata()["userinfo_endpoint"],
                                     headers={"Authorization": f"Bearer {access_token}",
                                              "Accept": "application/jwt, application/json"})
        except httpx.HTTPError as exc:
            raise OIDCError(f"the userinfo endpoint failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise OIDCError(f"the userinfo endpoint answered {response.status_code}")
        if response.headers.get("content-type", "").split(";")[0].strip() == "application/jwt":
            info = self._decode(response.text.strip())
            if str(info.get("iss", "")).rstrip("/") != self.issuer:
                raise OIDCError("the userinfo JWT comes from another issuer")
            audience = info.get("aud")
            if self.client_id not in (audience if isinstance(audience, list) else [audience]):
                raise OIDCError("the userinfo JWT is meant for another client")
            return info
        try:
            data = response.json()
        except ValueError as exc:
            raise OIDCError("userinfo is neither a JWT nor JSON") from exc
        if not isinstance(data, dict):
            raise OIDCError("userinfo is not a JSON object")
        return data

    def is_mfa(self, claims: dict[str, Any]) -> bool:
        amr = claims.get("amr") or []
        if isinstance(amr, str):
            amr = [amr]
        return "mfa" in amr or str(claims.get("acr", "")) in self.mfa_acr_values

    def logout_url(self, id_token: str, state: str, post_logout_redirect_uri: str) -> str | None:
        endpoint = self.metadata().get("end_session_endpoint")
        if not endpoint:
            return None
        params = {"id_token_hint": id_token, "state": state, "post_logout_redirect_uri": post_logout_redirect_uri}
        return f"{endpoint}?{urlencode(params)}"


_clients: dict[tuple[str, str], OIDCClient] = {}
_clients_lock = threading.Lock()


def get_client() -> OIDCClient | None:
    """The configured provider's client, or None when OpenID Connect is not set up."""
    settings = get_settings()
    auth = settings.auth
    if not (auth.oidc_issuer and auth.oidc_client_id and auth.oidc_client_secret):
        return None
    redirect = auth.oidc_redirect_uri or f"{settings.app.base_url.rstrip('/')}/auth/oidc/callback"
    key = (auth.oidc_issuer, auth.oidc_client_id)
    with _clients_lock:
        client = _clients.get(key)
        if client is None or client.redirect_uri != redirect or client.client_secret != auth.oidc_client_secret:
            client = OIDCClient(auth.oidc_issuer, auth.oidc_client_id, auth.oidc_client_secret, redirect,
                                scopes=auth.oidc_scopes, acr_values=auth.oidc_acr_values,
                                mfa_acr_values=auth.oidc_mfa_acr_values, request_amr=auth.oidc_request_amr,
                                timeout_s=auth.oidc_timeout_s,
                                clock_skew_s=auth.oidc_clock_skew_s)
            _clients[key] = client
        return client
