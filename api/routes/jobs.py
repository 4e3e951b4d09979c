"""/v1/jobs: progress of documents ingested in the background."""

from typing import Any
from uuid import UUID

from fastapi import APIRouter

from api.deps import CallerKB
from api.errors import ERROR_RESPONSES

router = APIRouter(prefix="/v1/jobs", tags=["documents"], responses=ERROR_RESPONSES)


@router.get("/{job_id}", summary="Poll a background ingest")
async def get_job(job_id: UUID, kb: CallerKB) -> dict[str, Any]:
    """status is pending, processing, succeeded (with document_id) or failed (with error)."""
    return await kb.get_job(job_id)
