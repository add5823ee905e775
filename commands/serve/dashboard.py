"""The dashboard: one static page and its script, vendored in the package (no build step)."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
router = APIRouter(include_in_schema=False)


@router.get("/")
def index():
    return RedirectResponse("/dashboard/")


@router.get("/dashboard/")
def page():
    # The page holds no data: it asks for a token and calls the API with it.
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


def mount_static(app) -> None:
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="static")
