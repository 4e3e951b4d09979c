"""The embedder the settings ask for."""

from knowledge_core.embeddings.base import Embedder
from knowledge_core.embeddings.remote import EdgeFunctionEmbedder, OpenAICompatibleEmbedder
from knowledge_core.embeddings.shared import SharedEmbedder
from knowledge_core.settings import Settings


def create_embedder(settings: Settings) -> Embedder:
    timeout = settings.embedding_timeout_seconds
    if settings.embedding_provider == "openai":
        assert settings.openai_api_key is not None  # checked by Settings
        return OpenAICompatibleEmbedder(
            str(settings.openai_base_url),
            settings.embedding_model or "text-embedding-3-small",
            settings.openai_api_key.get_secret_value(),
            timeout=timeout,
        )
    if settings.embedding_provider == "edge-function":
        return EdgeFunctionEmbedder(
            settings.embed_url, settings.supabase_anon_key.get_secret_value(), timeout=timeout
        )
    if settings.embedder_url is not None:
        return SharedEmbedder(settings.embedder_url, timeout=timeout)
    from knowledge_core.embeddings.local import LocalEmbedder  # numpy, onnxruntime: extra `local`

    return LocalEmbedder(settings)
