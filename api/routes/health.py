"""Liveness, readiness and Prometheus metrics."""

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from knowledge_core.knowledge import Knowledge

router = APIRouter(tags=["health"])


@router.get("/health/live", summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/health/ready",
    summary="PostgREST and the database are reachable",
    responses={503: {"description": "A dependency is down"}},
)
async def ready(request: Request) -> dict[str, str]:
    knowledge: Knowledge = request.app.state.knowledge
    await knowledge.rest.ready()  # raises Unavailable -> 503
    return {"status": "ok"}


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
