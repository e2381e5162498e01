"""The admin service's web front end: the REST API (and, later, the console)."""
from .app import create_app

__all__ = ["create_app"]
