"""/oauth/consent: the authorization page Supabase Auth's OAuth 2.1 server sends users to.

Supabase Auth redirects a user whose agent asks for access to {SITE_URL}{authorization path}
?authorization_id=<id> (Authentication > OAuth Server > Authorization Path: `/oauth/consent`,
with this API's public address as the site URL; docs/deploy.md). The page is static HTML and
plain JavaScript (api/consent/): it shows the agent, records the user's choice (read or write)
in public.agent_grants with the user's own token, and answers Supabase Auth's consent endpoint.
Only the project's URL and anon key are filled in here; both are public.
"""

import html
from functools import cache
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response

from knowledge_core.errors import NotFound
from knowledge_core.settings import Settings

router = APIRouter(prefix="/oauth", tags=["agents"], include_in_schema=False)

FILES = Path(__file__).resolve().parent.parent / "consent"


@cache
def _file(name: str) -> str:
    return (FILES / name).read_text()


def _headers(settings: Settings) -> dict[str, str]:
    """A consent page must not be framed (a click on "Allow" could be hijacked), cached, or
    leak its authorization id in a Referer; it talks only to the project's Supabase."""
    parts = urlsplit(str(settings.supabase_url))
    supabase_origin = f"{parts.scheme}://{parts.netloc}"
    return {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src https:; "
            f"connect-src {supabase_origin}; form-action 'none'; frame-ancestors 'none'; "
            "base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }


@router.get("/consent")
async def consent_page(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    page = Template(_file("consent.html")).substitute(
        supabase_url=html.escape(str(settings.supabase_url).rstrip("/"), quote=True),
        anon_key=html.escape(settings.supabase_anon_key.get_secret_value(), quote=True),
    )
    return Response(page, media_type="text/html; charset=utf-8", headers=_headers(settings))


# The page's script and style: two files, named here (no path from the request reaches the disk).
ASSETS = {
    "consent.js": "text/javascript; charset=utf-8",
    "consent.css": "text/css; charset=utf-8",
}


@router.get("/{name}")
async def consent_asset(name: str, request: Request) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no such file: {name}")
    return Response(
        _file(name), media_type=media_type, headers=_headers(request.app.state.settings)
    )
