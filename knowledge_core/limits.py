"""Defaults and bounds that every door states: the API (its OpenAPI document), the MCP server (its
tools' input schemas) and `kb` (its options) take them from here, and each is within what the
database enforces itself (the SQL named beside it). tests/test_doors_agree.py holds the doors to
them, and tests/database/test_bounds.py holds them to the SQL.
"""

from typing import Literal, get_args

SearchMode = Literal["semantic", "hybrid", "keyword"]
SEARCH_MODES: tuple[str, ...] = get_args(SearchMode)
# Semantic by default: what the API and the MCP server always did, and the cheapest (hybrid runs
# it and the keyword side: ~1.3-1.7x per request on SciFact, bench/README.md section 10). Hybrid,
# which ranks best there, is one argument away; keyword needs no query embedding.
DEFAULT_MODE: SearchMode = "semantic"

# What a search returns: the best passages, or the best documents, each once at its best passage.
GroupBy = Literal["passage", "document"]
GROUPINGS: tuple[str, ...] = get_args(GroupBy)
DEFAULT_GROUP_BY: GroupBy = "passage"

# Results a search returns: match_documents takes up to 1000, hybrid_search and keyword_search up
# to 200 (60_search_helpers.sql, 75_hybrid_search.sql). 100: recall@100 is measured through the
# API (bench section 10), and a reranker's candidates are of that order.
DEFAULT_K = 5
MAX_K = 100
# Minimum cosine similarity, applied in SQL by both searches (check_search_arguments).
MIN_THRESHOLD = -1.0
MAX_THRESHOLD = 1.0
# hybrid_search and keyword_search refuse a longer query_text.
MAX_QUERY_CHARS = 2000

# Columns of public.documents (30_documents.sql) and what they hold.
MAX_TITLE_CHARS = 500
MAX_SOURCE_CHARS = 2000
MAX_CATEGORY_CHARS = 100
# documents.content holds at most 2,000,000 characters; MAX_DOCUMENT_CHARS may set less.
MAX_DOCUMENT_CHARS = 2_000_000
# Metadata as JSON text (the column allows 64 KB stored), and keys in a filter.
MAX_METADATA_CHARS = 16_000
MAX_METADATA_KEYS = 50

# Lists of documents: a page of at most 100, and no deeper than 100,000 (an offset costs rows read).
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_OFFSET = 100_000

# How long a write waits for its document to be `ready` (searchable) before answering. Documents
# up to BACKGROUND_THRESHOLD_CHARS wait this long by default; larger ones answer at once (202,
# pending) unless the caller asks to wait. Bounded so a request never holds a connection for long.
DEFAULT_WAIT_SECONDS = 30.0
MAX_WAIT_SECONDS = 60.0

# Workspaces (20_workspaces.sql).
MAX_WORKSPACE_NAME_CHARS = 200
WorkspaceRole = Literal["owner", "editor", "viewer"]
WORKSPACE_ROLES: tuple[str, ...] = get_args(WorkspaceRole)
