"""Sharing from Slack: the share form, its pickers and the link buttons."""
