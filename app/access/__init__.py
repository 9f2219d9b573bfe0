"""Access: API keys and their scopes, the guard every route passes, and request limits."""
