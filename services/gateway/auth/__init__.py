"""Client authentication: API keys and OAuth2 bearer JWTs."""
