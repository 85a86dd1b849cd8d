"""capacity: multi-tenant Kubernetes capacity and cost reporting."""

__version__ = "0.1.0"
