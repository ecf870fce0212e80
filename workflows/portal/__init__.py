"""The recipient's portal: signing in without a password, and what they see there."""
