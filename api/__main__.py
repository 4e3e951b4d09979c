"""`python -m api` / `kb-api`: serve the API with uvicorn."""

import argparse
import os

import uvicorn

from knowledge_core.serving import UVICORN_OPTIONS


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="kb-api",
        description="Serve the knowledge base API. Settings come from the environment "
        "(SUPABASE_URL, SUPABASE_ANON_KEY, SUPABASE_JWT_SECRET, ...) or a .env file.",
    )
    parser.add_argument("--host", default=os.environ.get("API_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("API_PORT", "8000")))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--forwarded-allow-ips",
        default=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        help="proxies whose X-Forwarded-For/-Proto headers are trusted",
    )
    args = parser.parse_args()
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        **UVICORN_OPTIONS,
    )


if __name__ == "__main__":
    main()
