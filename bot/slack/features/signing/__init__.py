"""Signature requests from Slack: the request form, the list, remind and cancel."""
