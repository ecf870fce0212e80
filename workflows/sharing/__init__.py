"""Sharing: shares and links, opening and downloading, recipients' inbox, notices."""
