"""/v1/search: find the passages that answer a question."""

from fastapi import APIRouter, Response
from pydantic import BaseModel

from api.deps import CallerKB
from api.errors import ERROR_RESPONSES
from api.responses import model_response
from knowledge_core.models import SearchHit, SearchQuery

router = APIRouter(prefix="/v1/search", tags=["search"], responses=ERROR_RESPONSES)


class SearchResults(BaseModel):
    mode: str
    embedding_model: str
    results: list[SearchHit]


@router.post("", response_model=SearchResults, summary="Search the knowledge base")
async def search(query: SearchQuery, kb: CallerKB) -> Response:
    """Semantic (vectors), keyword (BM25 over the query's words) or hybrid (both, fused) search
    over what you may read; passages, or documents ranked by their best passage (`group_by`).
    Each result carries document and chunk ids, scores and metadata for citations."""
    hits = await kb.search(query)
    model = kb.knowledge.embedder.model
    return model_response(SearchResults(mode=query.mode, embedding_model=model, results=hits))
