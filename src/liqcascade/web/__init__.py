"""The dashboard: ``liqcascade serve`` — a FastAPI app (JSON API + static pages) served by Uvicorn.

``create_app(out_dir)`` builds the application; :func:`serve` runs it, bound to 127.0.0.1 unless
told otherwise.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from .app import create_app

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(
    out_dir: str | Path = "out",
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_jobs: int = 1,
    max_job_memory_mb: float = 4096.0,
) -> None:
    """Serve the dashboard over ``out_dir`` until interrupted.  A host other than the loopback
    interface exposes the store and the job launcher to the network: a warning says so."""
    import uvicorn

    from ..errors import InputError

    if not (1 <= int(port) <= 65535):
        raise InputError(f"must be 1-65535, got {port}", field="port")
    if host not in LOOPBACK:
        warnings.warn(
            f"serving on {host}: the dashboard has no authentication; anyone who reaches {host}:{port} "
            "can read the run store and launch jobs",
            stacklevel=2,
        )
    app = create_app(out_dir, max_jobs=max_jobs, max_job_memory_mb=max_job_memory_mb)
    uvicorn.run(app, host=host, port=int(port), log_level="warning")


__all__ = ["create_app", "serve"]
