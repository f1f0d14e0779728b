"""fastapi-scaffold: generate FastAPI projects whose handlers fit the libraries they use."""

__version__ = "0.1.0"
