"""netc serve: the live playground (starlette + uvicorn). See netc.tools.serve.app.

Importing this package does not import torch; the checks run in worker processes (netc.tools.serve.pool).
"""
from __future__ import annotations

__all__ = ["create_app"]


def create_app(*args, **kwargs):
    from netc.tools.serve.app import create_app as _create
    return _create(*args, **kwargs)
