"""The directory in Slack: recipients, groups, spaces and clients, their lists and forms."""
