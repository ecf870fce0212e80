"""The Slack app's features: each brings its /inkpost subcommands, listeners and views."""
