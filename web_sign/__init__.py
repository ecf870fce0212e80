"""The web pages behind Inkpost's links (aiohttp, server-rendered); ``inkpost serve``
runs ``create_app`` with ``RedactingAccessLogger``."""

from web_sign.app import create_app
from web_sign.logs import RedactingAccessLogger

__all__ = ["RedactingAccessLogger", "create_app"]
