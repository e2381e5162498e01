"""Admin operations: validation, role checks and audit, shared by the CLI, REST API and console."""
from .context import LOCAL_OPERATOR, Caller, Context

__all__ = ["Caller", "Context", "LOCAL_OPERATOR"]
