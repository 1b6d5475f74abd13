"""The qplane Python SDK."""

from qplane.sdk.client import QplaneClient
from qplane.sdk.errors import QplaneAPIError

__all__ = ["QplaneAPIError", "QplaneClient"]
