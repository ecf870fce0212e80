"""People and places: organisations, staff, recipients, groups, spaces, chat links."""
