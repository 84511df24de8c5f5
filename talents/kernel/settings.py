"""Settings, one class per concern, read from ``TALENTS_*`` environment variables and cached."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "AppSettings",
    "AuthSettings",
    "DatabaseSettings",
    "MatchingSettings",
    "NotificationSettings",
    "PrivacySettings",
    "SchedulerSettings",
    "get_settings",
    "reset_settings",
]

_DEV_SECRET = "dev-secret-change-me-0123456789abcdef0123456789abcdef"  # noqa: S105  # nosec B105 - refused in production


class _Base(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TALENTS_", extra="ignore")


class DatabaseSettings(_Base):
    """Where the data lives. SQLite is the embedded default; PostgreSQL the real deployment."""

    database_url: str = "sqlite:///./talents.db"
    database_echo: bool = False
    database_pool_size: int = Field(
        10, ge=1, description="Connections kept open; as many requests are at work at once, the others wait their turn")
    database_max_overflow: int = Field(10, ge=0, description="Connections opened beyond the pool under bursts")
    database_lock_timeout_s: float = Field(
        10.0, gt=0, description="Longest wait for a row lock (PostgreSQL), the write lock (SQLite), a free or a new "
                                "database connection; then 503")
    database_statement_timeout_s: float = Field(
        60.0, gt=0, description="Longest statement (PostgreSQL); then 503")
    database_idle_in_transaction_timeout_s: float = Field(
        300.0, gt=0, description="PostgreSQL ends a session left idle inside a transaction this long")


class AppSettings(_Base):
    """The web application: environment, secrets, limits and public address."""

    env: Literal["development", "test", "production"] = "development"
    demo: bool = False
    secret_key: str = _DEV_SECRET
    base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 5 * 1024 * 1024
    log_level: str = "INFO"
    log_json: bool = True
    metrics_public: bool = Field(True, description="false: /metrics answers only an admin's API token "
                                                   "(keep it off the public proxy otherwise)")
    shutdown_grace_s: float = Field(30.0, gt=0, description="On SIGTERM, how long requests in progress may finish")
    keep_alive_s: int = Field(
        65, ge=1, description="How long an idle client connection is kept open: longer than the proxy's or the "
                              "load balancer's own idle timeout (often 60 s), so that the server never closes a "
                              "connection just as the other end sends a request on it")

    @model_validator(mode="after")
    def _refuse_default_secret_outside_development(self) -> AppSettings:
        if self.env == "production" and self.secret_key == _DEV_SECRET:
            raise ValueError("TALENTS_SECRET_KEY must be set to a private value in production")
        if self.env == "production" and len(self.secret_key) < 32:
            raise ValueError("TALENTS_SECRET_KEY must be at least 32 characters long")
        if self.env == "production" and self.demo:
            # The demo signs anyone in with the role they pick: never on a real service.
            raise ValueError("TALENTS_DEMO cannot be on in production (anyone could sign in as an admin)")
        return self


class MatchingSettings(_Base):
    """Policy and engine settings."""

    floor: float = Field(0.5, description="A contribution counts only strictly above this share of time")
    min_score: float = Field(0.2, description="Minimum match score for an automatic proposal")
    allocation_time_budget_s: float = 10.0
    # Workflow (talents.workflow, talents.ranking): see docs/workflow.md.
    allocation_top_k: int = Field(50, ge=1, le=1000, description="Candidates per role given to the solver")
    ranking_refresh_overlap_s: float = Field(
        120.0, ge=0, description="Re-read agents changed this long before the last refresh (late commits)")
    ranking_index_dir: str | None = Field(
        None, description="Where the ranking index is kept between processes (default: beside a SQLite "
                          "database file, else the user's cache directory); empty string: not kept")
    ranking_index_save_s: float = Field(
        300.0, ge=0, description="A long-lived process writes the kept index at most this often (seconds of CPU "
                                 "at 100 000 agents; a process that loads an older copy catches up from the "
                                 "change stamps)")
    ranking_lag_s: float = Field(
        0.5, ge=0, le=1.0, description="A ranking shown to a project lead may be this late on profile and "
                                       "availability edits (seconds): the change stamps are looked at no more "
                                       "often than that; twice that while another request brings the index up to "
                                       "date (a ranking does not wait for it). A need's members, refusals and "
                                       "seats taken are read at the time of every ranking; the allocation and a "
                                       "proposal's checks never lag; 0: the stamps are looked at on every ranking")
    ranking_carry_s: float = Field(
        10.0, ge=0, description="A ranking is given again after the index changed, when the agents changed since "
                                "cannot alter it; when the rarity weights of its role's skills also moved, for at "
                                "most this long (seconds; its scores keep the weights of when it was ranked); 0: "
                                "ranked again after every change")
    proposal_ttl_days: int = Field(7, ge=1, description="A proposal not answered within this expires")
    approval_ttl_days: int = Field(7, ge=1, description="A manager's approval link is valid this long; an "
                                                        "accepted assignment not decided within it expires")
    allocation_exact: bool = Field(
        True, description="Let the solver try the exact model (LP bound, MILP) in a child process; false: "
                          "greedy tiers only (tests, tiny machines)")
    allocation_trigger_sync: bool = Field(
        False, description="Run the allocation for a new priority-1 need right after the commit that created "
                           "it (default: the scheduler picks the trigger up at its next tick)")


class NotificationSettings(_Base):
    """Outbox, channels (SMTP, webhook, Matrix/Tchap), retries, reminders and digests."""

    smtp_url: str | None = Field(None, description="smtp://user:pass@host:port?starttls=true (or smtps://…); "
                                                   "unset: e-mails stay in the outbox and are logged")
    smtp_timeout_s: float = 20.0
    mail_from: str = "Talents <ne-pas-repondre@talents.numerique.gouv.fr>"
    mail_domain: str = Field("talents.numerique.gouv.fr", description="Right-hand side of Message-ID headers")
    webhook_url: str | None = Field(None, description="JSON POST of every event kind in webhook_kinds")
    webhook_secret: str = Field("", description="HMAC-SHA256 key of the X-Talents-Signature header")
    matrix_homeserver: str | None = Field(None, description="e.g. https://matrix.agent.dinum.tchap.gouv.fr")
    matrix_room_id: str | None = Field(None, description="e.g. !abcdef:agent.dinum.tchap.gouv.fr")
    matrix_access_token: str = Field("", description="Access token of the bot account that posts to the room")
    webhook_kinds: list[str] = Field(
        default_factory=lambda: ["need.created", "need.priority_changed", "need.staffed", "assignment.forced",
                                 "assignment.withdrawn", "allocation.run_completed"],
        description="Event kinds posted to the webhook and to the Matrix room",
    )
    webhook_timeout_s: float = 10.0
    notify_max_attempts: int = Field(8, ge=1, le=50)
    notify_backoff_base_s: float = Field(30.0, gt=0,
                                         description="First retry delay; doubles each attempt, with jitter")
    notify_backoff_max_s: float = Field(6 * 3600.0, gt=0)
    notify_lease_s: float = Field(120.0, gt=0,
                                  description="A claimed delivery not marked within this is claimed again")
    notify_batch_size: int = Field(50, ge=1, le=1000)
    proposal_reminder_days: int = Field(3, ge=1)
    approval_reminder_days: int = Field(3, ge=1)
    availability_ending_days: int = Field(14, ge=1)
    profile_stale_days: int = Field(182, ge=1)
    notify_reviewer_emails: list[str] = Field(default_factory=list,
                                              description="Extra recipients of the reviewer digest")
    unsubscribe_max_age_days: int = Field(365, ge=1)


class SchedulerSettings(_Base):
    """Background jobs: where they run and how often."""

    scheduler_in_app: bool = Field(False, description="Also start the scheduler inside the web process "
                                                      "(one instance is elected through the database)")
    scheduler_lease_s: float = Field(30.0, gt=1, description="Leadership lease; renewed every third of it")
    scheduler_dispatch_interval_s: int = Field(5, ge=1)
    scheduler_reminders_interval_s: int = Field(3600, ge=60)
    scheduler_digest_hour_utc: int = Field(6, ge=0, le=23)
    scheduler_allocation_interval_s: int = Field(6 * 3600, ge=60)
    scheduler_expiry_interval_s: int = Field(900, ge=10, description="Expire overdue proposals, activate started")
    scheduler_triggers_interval_s: int = Field(30, ge=1, description="Pick up priority-1 allocation triggers")
    scheduler_retention_interval_s: int = Field(24 * 3600, ge=60)


class AuthSettings(_Base):
    """Sign-in (OpenID Connect / ProConnect, demo sign-in), sessions, cookies, CSRF and rate limits."""

    oidc_issuer: str = Field("", description="e.g. https://auth.agentconnect.gouv.fr/api/v2 (ProConnect)")
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_redirect_uri: str = Field("", description="Default: <base_url>/auth/oidc/callback")
    oidc_post_logout_redirect_uri: str = Field("", description="Default: <base_url>/auth/logged-out")
    oidc_scopes: str = "openid given_name usual_name email uid siret idp_id"
    oidc_acr_values: str = Field("", description="Requested acr_values, e.g. eidas1 (empty: none)")
    oidc_request_amr: bool = Field(True, description='Ask for the amr claim (claims={"id_token":{"amr":…}})')
    oidc_mfa_acr_values: str = Field("eidas2 eidas3 https://proconnect.gouv.fr/assurance/self-asserted-2fa "
                                     "https://proconnect.gouv.fr/assurance/consistency-checked-2fa",
                                     description="acr values that count as multi-factor authentication")
    oidc_timeout_s: float = 10.0
    oidc_clock_skew_s: int = 60
    mfa_roles: list[str] = Field(default_factory=lambda: ["reviewer"],
                                 description="Roles granted over a session only after multi-factor sign-in")
    session_idle_minutes: int = Field(30, ge=1)
    session_absolute_hours: int = Field(10, ge=1)
    cookie_secure: bool | None = Field(None,
                                       description="Default: on, except over http:// in development/test")
    session_cookie: str = "talents_session"
    csrf_cookie: str = "talents_csrf"
    signin_rate_per_minute: int = Field(10, ge=1, description="Sign-in attempts per IP per minute")
    write_rate_per_minute: int = Field(600, ge=1, description="Unsafe requests per principal per minute")
    rate_window_s: int = Field(60, ge=1)


class PrivacySettings(_Base):
    """Retention periods, in days, per data category (GDPR); enforced by ``talents gdpr purge``."""

    retention_access_log_days: int = Field(365, ge=1)
    retention_sessions_days: int = Field(30, ge=1, description="Ended or expired sessions")
    retention_revoked_tokens_days: int = Field(90, ge=1)
    retention_login_flows_hours: int = Field(1, ge=1, description="Unfinished sign-ins")
    retention_notifications_days: int = Field(365, ge=1)
    retention_inactive_users_days: int = Field(3 * 365, ge=30, description="Accounts not signed in since")


class Settings:
    """All settings, grouped by concern."""

    def __init__(self) -> None:
        self.db = DatabaseSettings()
        self.app = AppSettings()
        self.matching = MatchingSettings()
        self.auth = AuthSettings()
        self.privacy = PrivacySettings()
        self.notifications = NotificationSettings()
        self.scheduler = SchedulerSettings()
        if self.app.env == "production" and self.auth.cookie_secure is False:
            raise ValueError("TALENTS_COOKIE_SECURE cannot be turned off in production")

    @property
    def cookie_secure(self) -> bool:
        """Secure cookies, unless turned off (or left default) in development/test over plain http."""
        if self.auth.cookie_secure is not None:
            return self.auth.cookie_secure
        return self.app.env == "production" or self.app.base_url.startswith("https://")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
