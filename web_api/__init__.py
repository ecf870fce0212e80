"""The integration API: JSON under /api/v1 for other systems, with API keys."""

from web_api.app import add_api

__all__ = ["add_api"]
