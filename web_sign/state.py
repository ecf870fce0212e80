"""Typed application state: what ``create_app`` puts on the app and handlers read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from web_sign.metrics import Metrics
from web_sign.previews import Previews
from web_sign.small_files import SmallFiles
from web_sign.templating import Templates
from workflows.context import Env
from workflows.sharing.access import AccessRecorder


@dataclass(frozen=True)
class WebSettings:
    cache_dir: Path
    public_url: str
    url_prefix: str
    """The path part of the public URL ('' at the root), put before every link we print."""
    trust_forwarded_for: bool = False
    """Take the visitor's IP from X-Forwarded-For: only behind a proxy that sets it."""


ENV = web.AppKey("inkpost_env", Env)
SETTINGS = web.AppKey("inkpost_web_settings", WebSettings)
TEMPLATES = web.AppKey("inkpost_templates", Templates)
METRICS = web.AppKey("inkpost_metrics", Metrics)
PREVIEWS = web.AppKey("inkpost_previews", Previews)
RECORDER = web.AppKey("inkpost_access_recorder", AccessRecorder)
SMALL_FILES = web.AppKey("inkpost_small_files", SmallFiles)


@dataclass(frozen=True)
class SigningConfig:
    form_secret: bytes = field(repr=False)
    """Keys the forms' tokens; the same in every process that serves the pages."""
    telegram_bot_token: str | None = field(default=None, repr=False)
    """Checks Mini App launch data; None turns the Mini App off."""


SIGNING = web.AppKey("inkpost_signing", SigningConfig)
