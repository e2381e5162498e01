"""Admin operations: validation, role checks and audit, shared by the CLI, REST API and console."""
from ..storage import Store
from .context import LOCAL_OPERATOR, Caller, Context

# Store: the front ends pass the node's store to the service layer; they name its type from here
# rather than import the storage layer.
__all__ = ["Caller", "Context", "LOCAL_OPERATOR", "Store"]
