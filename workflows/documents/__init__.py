"""Documents: filing onto the durable medium, versions, search, history in words."""
