"""netc serve: the live playground (starlette + uvicorn). See netc.serve.app.

Importing this package does not import torch; the checks run in worker processes (netc.serve.pool).
"""
from __future__ import annotations

__all__ = ["create_app"]


def create_app(*args, **kwargs):
    from .app import create_app as _create
    return _create(*args, **kwargs)
