"""The Kommo API v4: the entity table, and (later) the client, auth and rate limiting."""
