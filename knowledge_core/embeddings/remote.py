"""Embedding services over HTTP: any OpenAI-compatible /v1/embeddings, and the project's own
Supabase Edge Function (`supabase/functions/embed`, gte-small), called as the user."""

from collections.abc import Sequence
from typing import Any

import httpx

from knowledge_core.embeddings.base import DIMENSIONS, Kind
from knowledge_core.errors import InvalidToken, Unavailable


class _HttpEmbedder:
    service_name = "embedding service"

    def __init__(
        self,
        url: str,
        model: str,
        *,
        timeout: float,
        headers: dict[str, str],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._model = model
        self.client = httpx.AsyncClient(timeout=timeout, headers=headers, transport=transport)

    @property
    def model(self) -> str:
        return self._model

    async def _post(self, body: dict[str, Any], headers: dict[str, str]) -> Any:
        try:
            response = await self.client.post(self.url, json=body, headers=headers)
        except httpx.TimeoutException as error:
            raise Unavailable(
                f"the {self.service_name} did not answer in time", service="embedder"
            ) from error
        except httpx.TransportError as error:
            raise Unavailable(
                f"the {self.service_name} cannot be reached", service="embedder"
            ) from error
        if response.status_code == 401 and "Authorization" in headers:
            raise InvalidToken(f"the {self.service_name} refused the caller's token")
        if response.status_code >= 400:
            raise Unavailable(
                f"the {self.service_name} answered {response.status_code}", service="embedder"
            )
        try:
            return response.json()
        except ValueError as error:
            raise Unavailable(
                f"the {self.service_name} sent no JSON", service="embedder"
            ) from error

    async def aclose(self) -> None:
        await self.client.aclose()


class OpenAICompatibleEmbedder(_HttpEmbedder):
    """OpenAI's text-embedding-3-* (asked for 384 dimensions) or any compatible server."""

    service_name = "OpenAI-compatible embedding service"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url.rstrip("/") + "/embeddings",
            model,
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}"},
            transport=transport,
        )

    async def embed(
        self, texts: Sequence[str], *, token: str | None = None, kind: Kind = "passage"
    ) -> list[list[float]]:
        body = {"model": self.model, "input": list(texts), "dimensions": DIMENSIONS}
        payload = await self._post(body, {})
        try:
            items = sorted(payload["data"], key=lambda item: item["index"])
            return [list(map(float, item["embedding"])) for item in items]
        except (KeyError, TypeError) as error:
            raise Unavailable(
                "the embedding service answered in an unknown shape", service="embedder"
            ) from error


class EdgeFunctionEmbedder(_HttpEmbedder):
    """gte-small through `supabase/functions/embed`, with the caller's own JWT."""

    service_name = "embed Edge Function"
    # The function refuses more inputs than this in one request (413).
    max_batch = 64

    def __init__(
        self,
        url: str,
        anon_key: str,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            url, "gte-small", timeout=timeout, headers={"apikey": anon_key}, transport=transport
        )

    async def embed(
        self, texts: Sequence[str], *, token: str | None = None, kind: Kind = "passage"
    ) -> list[list[float]]:
        if token is None:
            raise InvalidToken("the Edge Function embeds only for a signed-in caller")
        payload = await self._post({"input": list(texts)}, {"Authorization": f"Bearer {token}"})
        try:
            items = sorted(payload["data"], key=lambda item: item["index"])
            return [list(map(float, item["embedding"])) for item in items]
        except (KeyError, TypeError) as error:
            raise Unavailable(
                "the Edge Function answered in an unknown shape", service="embedder"
            ) from error
