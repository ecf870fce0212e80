"""Uploads from Slack: the upload form, the message shortcut and files sent in a DM."""
