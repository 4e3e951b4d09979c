"""/v1/search: find the passages that answer a question."""

from fastapi import APIRouter, Response

from api.deps import CallerKB
from api.errors import ERROR_RESPONSES
from api.responses import model_response
from knowledge_core.models import SearchQuery, SearchResults

router = APIRouter(prefix="/v1/search", tags=["search"], responses=ERROR_RESPONSES)


@router.post("", response_model=SearchResults, summary="Search the knowledge base")
async def search(query: SearchQuery, kb: CallerKB) -> Response:
    """Semantic (vectors), keyword (BM25 over the query's words) or hybrid (both, fused) search
    over what you may read: up to `k` passages (or documents, each at its best passage, with
    `group_by: document`), at least `threshold` similar to the query when one is given. Each
    result carries document and chunk ids, scores, metadata and its location in its file, for
    citations."""
    hits = await kb.search(query)
    model = kb.knowledge.embedder.model
    return model_response(SearchResults(mode=query.mode, embedding_model=model, results=hits))
