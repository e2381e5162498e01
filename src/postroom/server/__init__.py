"""Thin asyncio adapters: listeners, TLS, limits and timeouts around the sans-IO cores."""
