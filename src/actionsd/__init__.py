"""actionsd: a self-hosted, Auth0-compatible Actions server."""

__version__ = "0.1.0"
