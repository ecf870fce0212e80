"""Telegram for recipients, on python-telegram-bot."""

import os

# Opt in to PTB's coming behaviour (durations as timedelta) so that its RetryAfter does
# not warn about the old one on every 429.
os.environ.setdefault("PTB_TIMEDELTA", "true")
