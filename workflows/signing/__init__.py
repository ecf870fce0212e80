"""Signing: requests and their forms, parties' decisions, reminders and notices, completion,
the seal and its certificate page, and verification of sealed files."""
