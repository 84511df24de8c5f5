"""Settings, one class per concern, read from ``TALENTS_*`` environment variables and cached."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["AppSettings", "DatabaseSettings", "MatchingSettings", "get_settings", "reset_settings"]

_DEV_SECRET = "dev-secret-change-me-0123456789abcdef0123456789abcdef"


class _Base(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TALENTS_", extra="ignore")


class DatabaseSettings(_Base):
    """Where the data lives. SQLite is the embedded default; PostgreSQL the real deployment."""

    database_url: str = "sqlite:///./talents.db"
    database_echo: bool = False
    database_pool_size: int = 10


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

    @model_validator(mode="after")
    def _refuse_default_secret_outside_development(self) -> AppSettings:
        if self.env == "production" and self.secret_key == _DEV_SECRET:
            raise ValueError("TALENTS_SECRET_KEY must be set to a private value in production")
        if self.env == "production" and len(self.secret_key) < 32:
            raise ValueError("TALENTS_SECRET_KEY must be at least 32 characters long")
        return self


class MatchingSettings(_Base):
    """Policy and engine settings."""

    floor: float = Field(0.5, description="A contribution counts only strictly above this share of time")
    min_score: float = Field(0.2, description="Minimum match score for an automatic proposal")
    allocation_time_budget_s: float = 10.0


class Settings:
    """All settings, grouped by concern."""

    def __init__(self) -> None:
        self.db = DatabaseSettings()
        self.app = AppSettings()
        self.matching = MatchingSettings()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
