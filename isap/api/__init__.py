"""The HTTP API for other systems and CI: FastAPI over the service, acting through personal API tokens.

A front door like `isap.cli` and `dashboards`: it renders and dispatches, and decides nothing itself.
"""
