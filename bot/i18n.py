"""Texts for recipients in chats and mails: the shared catalogues (`texts`), none in code."""

from __future__ import annotations

from datetime import datetime

import texts
from storage.models import Organization
from texts import FALLBACK, LANGUAGES, catalogue, text
from workflows.quiet_hours import zone_of

__all__ = ["FALLBACK", "LANGUAGES", "catalogue", "text", "when"]


def when(value: datetime, language: str | None, *, organization: Organization) -> str:
    """'25 listopada 2026, 13:00 CET': a moment as the reader's locale writes it, on the
    clock of the organisation that writes to them (UTC when its zone is unknown here)."""
    return texts.when(value, language, zone=str(zone_of(organization)))
