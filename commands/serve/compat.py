from fastapi import APIRouter
router = APIRouter(tags=["loki-mode"])
