"""The one settings class: read once, here, and passed down as plain values."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.db import sqlite_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="INKPOST_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Path("./inkpost-data")
    database_url: str | None = None
    blob_url: str | None = None
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_secure: bool = True
    retention_days: int = Field(default=3650, ge=1)
    max_upload_mb: int = Field(default=50, ge=1)
    outbox_lease_seconds: int = Field(default=60, ge=5)
    """How long a delivery worker holds a claimed notification before others may take it."""
    outbox_unsettled: int = Field(default=1, ge=1, le=30)
    """Sends per channel whose outcome a worker may not yet have recorded: a crash repeats
    at most this many, and a channel delivers at most this many per round trip."""
    role_retry_seconds: int = Field(default=5, ge=1, le=300)
    """How often a serving process that does not hold a role (the Telegram bot, the Slack
    notices) tries to take it: the work of a holder that died moves on within this."""
    scan_interval_seconds: int = Field(default=60, ge=0)
    """How often `inkpost serve` runs the reminder and expiry scans; 0 turns them off (for
    running `inkpost reminders run` from cron instead)."""
    checkpoint_interval_seconds: int = Field(default=3600, ge=0)
    """How often `inkpost serve` writes a sealed checkpoint of each organisation's history
    that moved since its last one; 0 turns it off (for `inkpost audit checkpoint` from cron)."""

    api_rate_per_minute: int = Field(default=600, ge=1)
    """Requests each key of the integration API may make per minute, on average."""
    api_rate_burst: int = Field(default=60, ge=1)
    """Requests a key may make at once after a quiet while (then 429 with Retry-After)."""

    public_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    secret_key: SecretStr | None = None

    telegram_token: SecretStr | None = None
    telegram_api_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None
    smtp_url: SecretStr | None = None
    mail_from: str | None = None
    seal_cert: Path | None = None
    seal_key: Path | None = None
    seal_pkcs12: Path | None = None
    seal_passphrase: SecretStr | None = None
    """Unlocks SEAL_KEY or SEAL_PKCS12 when they are encrypted."""
    tsa_url: str | None = None
    webhook_allow_private: bool = False
    """Let webhooks reach private, loopback and link-local addresses (refused by default)."""
    webhook_allowed_networks: str = ""
    """Non-public networks webhooks may reach all the same, comma-separated (10.1.0.0/16)."""
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    """How long a webhook receiver has to answer before the attempt counts as failed."""

    org: str | None = None
    """The organisation CLI commands act on when there are several (slug)."""
    staff: str | None = None
    """The staff member CLI commands act as and the history names (id, name or email)."""

    @field_validator("slack_app_token", mode="before")
    @classmethod
    def _app_level_token(cls, value: object) -> object:
        """Socket Mode takes an app-level token (a bot token here is a common mix-up);
        left blank, as in a .env template, it is unset and Slack runs over HTTP."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str) and not text.strip():
            return None
        if isinstance(text, str) and not text.startswith("xapp-"):
            raise ValueError("an app-level token starts with xapp-")
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return sqlite_url((self.data_dir / "inkpost.db").resolve())

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024
