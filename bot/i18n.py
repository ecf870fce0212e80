"""Texts for recipients in chats and mails: the shared catalogues (`texts`), none in code."""

from __future__ import annotations

from texts import FALLBACK, LANGUAGES, catalogue, text

__all__ = ["FALLBACK", "LANGUAGES", "catalogue", "text"]
