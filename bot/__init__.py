"""Chat adapters: Telegram for recipients, Slack for staff, mail as the fallback."""
