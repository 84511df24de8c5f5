"""A small OpenID provider for the tests, shaped like ProConnect: discovery, JWKS, authorize (signs in at once
as ``provider.user``), token (PKCE and client secret checked), userinfo as a signed JWT or JSON, end session.

Misbehaviours are switched on per test (``provider.tamper``): wrong nonce, foreign signing key, expired token,
another audience or issuer, unsigned token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

__all__ = ["Provider"]


class Provider:
    def __init__(self, client_id: str = "talents-test", client_secret: str = "s3cr3t-" + "z" * 30,
                 alg: str = "RS256") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.alg = alg
        if alg == "ES256":
            self.key: Any = ECKey.generate_key("P-256", parameters={"kid": "k-es"})
        else:
            self.key = RSAKey.generate_key(2048, parameters={"kid": "k-rs"})
        # Same kid, another key: what a forged token looks like.
        self.rogue: Any = RSAKey.generate_key(2048, parameters={"kid": self.key.kid}) if alg == "RS256" else \
            ECKey.generate_key("P-256", parameters={"kid": self.key.kid})
        self.user: dict[str, Any] = {"sub": "sub-1", "email": "jeanne.martin@interieur.gouv.fr",
                                     "given_name": "Jeanne", "usual_name": "Martin", "uid": "1",
                                     "siret": "13002526500013", "idp_id": "idp-1"}
        self.amr: list[str] | None = None
        self.acr: str | None = "eidas1"
        self.userinfo_as_jwt = True
        self.tamper: set[str] = set()
        self.pkce = True  # False: like ProConnect, no PKCE advertised and unknown parameters refused
        self.codes: dict[str, dict[str, Any]] = {}
        self.access: dict[str, dict[str, Any]] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.end_session_requests: list[dict[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Provider:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ documents
    def allowed_parameters(self) -> set[str]:
        allowed = {"response_type", "client_id", "redirect_uri", "scope", "claims", "state", "nonce", "prompt",
                   "idp_hint", "acr_values"}
        return allowed | ({"code_challenge", "code_challenge_method"} if self.pkce else set())

    def discovery(self) -> dict[str, Any]:
        i = self.issuer
        pkce = {"code_challenge_methods_supported": ["S256"]} if self.pkce else {}
        return {**pkce,"issuer": i, "authorization_endpoint": f"{i}/authorize", "token_endpoint": f"{i}/token",
                "userinfo_endpoint": f"{i}/userinfo", "jwks_uri": f"{i}/jwks", "end_session_endpoint": f"{i}/logout",
                "scopes_supported": ["openid", "given_name", "usual_name", "email", "uid", "siret", "idp_id"],
                "response_types_supported": ["code"], "id_token_signing_alg_values_supported": [self.alg],
                "userinfo_signing_alg_values_supported": [self.alg],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"]}

    def sign(self, claims: dict[str, Any], rogue: bool = False) -> str:
        key = self.rogue if rogue else self.key
        return jwt.encode({"alg": self.alg, "kid": key.kid, "typ": "JWT"}, claims, key)

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "sub": self.user["sub"], "aud": self.client_id,
                                  "exp": now + 60, "iat": now, "nonce": nonce, "idp_id": self.user["idp_id"]}
        if self.acr is not None:
            claims["acr"] = self.acr
        if self.amr is not None:
            claims["amr"] = self.amr
        if "wrong_nonce" in self.tamper:
            claims["nonce"] = "n" * 43
        if "expired" in self.tamper:
            claims["exp"], claims["iat"] = now - 3600, now - 7200
        if "audience" in self.tamper:
            claims["aud"] = "someone-else"
        if "issuer" in self.tamper:
            claims["iss"] = "https://evil.example"
        if "hs256" in self.tamper:  # signed with the client secret: a secret the client also knows
            secret = OctKey.import_key(self.client_secret.encode())
            return jwt.encode({"alg": "HS256", "kid": self.key.kid}, claims, secret)
        if "unsigned" in self.tamper:
            header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
            body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
            return f"{header}.{body}."
        return self.sign(claims, rogue="bad_signature" in self.tamper)

    # ------------------------------------------------------------------ HTTP
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _send(self, status: int, body: bytes | str, ctype: str = "application/json",
                      headers: dict[str, str] | None = None) -> None:
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._send(200, json.dumps(provider.discovery()))
                elif url.path == "/jwks":
                    self._send(200, json.dumps({"keys": [provider.key.as_dict(private=False)]}))
                elif url.path == "/authorize":
                    provider.authorize_requests.append(q)
                    unknown = set(q) - provider.allowed_parameters()
                    if unknown:  # as ProConnect: "Y000400 : Bad Request Exception"
                        self._send(400, json.dumps({"error": "Y000400", "unknown": sorted(unknown)}))
                        return
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = q
                    target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
                    self._send(302, b"", headers={"Location": target})
                elif url.path == "/userinfo":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    if token not in provider.access:
                        self._send(401, json.dumps({"error": "invalid_token"}))
                        return
                    claims = {**provider.user}
                    if "userinfo_sub" in provider.tamper:
                        claims["sub"] = "somebody-else"
                    if provider.userinfo_as_jwt:
                        claims |= {"iss": provider.issuer, "aud": provider.client_id}
                        self._send(200, provider.sign(claims), "application/jwt; charset=utf-8")
                    else:
                        self._send(200, json.dumps(claims))
                elif url.path == "/logout":
                    provider.end_session_requests.append(q)
                    target = q["post_logout_redirect_uri"] + "?" + urlencode({"state": q.get("state", "")})
                    self._send(302, b"", headers={"Location": target})
                else:
                    self._send(404, "{}")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlparse(self.path).path != "/token":
                    self._send(404, "{}")
                    return
                if form.get("client_id") != provider.client_id or form.get("client_secret") != provider.client_secret:
                    self._send(401, json.dumps({"error": "invalid_client"}))
                    return
                request = provider.codes.pop(form.get("code", ""), None)
                if request is None or request["redirect_uri"] != form.get("redirect_uri"):
                    self._send(400, json.dumps({"error": "invalid_grant"}))
                    return
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
                if "code_challenge" in request and challenge.decode() != request["code_challenge"]:
                    self._send(400, json.dumps({"error": "invalid_grant", "error_description": "PKCE"}))
                    return
                access = secrets.token_urlsafe(16)
                provider.access[access] = request
                self._send(200, json.dumps({"access_token": access, "token_type": "Bearer", "expires_in": 60,
                                            "id_token": provider.id_token(request["nonce"])}))

        return Handler
