"""The web front end: server-rendered pages over the same flows the CLI and the JSON API call."""
