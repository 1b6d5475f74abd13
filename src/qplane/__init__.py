"""qplane: a secure, multi-tenant control plane for quantum computing as a service."""

__version__ = "0.1.0"
