"""Service settings, read once from the environment or `.env` (API.md §8)."""

from functools import lru_cache
from typing import Annotated, Literal

import limits
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./data/battery-intel.db"
STORAGE_SCHEMES = ("memory", "redis", "rediss")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: sqlite:///<path> or postgresql+psycopg://user@host:port/db",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    reads_require_key: bool = False
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    log_format: Literal["json", "text"] = "json"
    max_body_bytes: int = Field(1_048_576, ge=1)
    rate_limit: str | None = Field(
        None, description="Requests per key (or client address): 120/minute. Empty: off."
    )
    rate_limit_storage: str = Field(
        "memory://",
        description="Where the limit counts: memory:// (each process its own) or "
        "redis://host:port[/db] (every worker and replica together).",
    )

    webhook_allow_private: bool = Field(
        False, description="true: webhooks may post to loopback and private addresses."
    )
    webhook_backoff_scale: float = Field(
        1.0, gt=0, description="Multiplies the delays between webhook retries (tests: 0.01)."
    )
    webhook_secret_key: str | None = Field(
        None,
        min_length=32,
        description="Webhook secrets are derived from this (every replica the same); unset, "
        "from a key file made beside the default database, ./data/webhook-secret.key.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # The contract says a comma-separated list, not JSON.
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("rate_limit", "webhook_secret_key", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("rate_limit")
    @classmethod
    def _a_rate(cls, value: str | None) -> str | None:
        if value is not None:
            limits.parse(value)  # "couldn't parse rate limit string": a ValueError, reported
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _a_storage(cls, value: str) -> str:
        if value.split("://", 1)[0] not in STORAGE_SCHEMES:
            raise ValueError(f"expected memory:// or redis://host:port[/db], got '{value}'")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


@lru_cache
def get_settings() -> Settings:
    return Settings()
