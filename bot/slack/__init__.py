"""The Slack adapter for staff: slash commands and buttons over the workflows."""
