"""Telegram for recipients, on python-telegram-bot."""
