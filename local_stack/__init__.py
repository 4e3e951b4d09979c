"""The embedded local Supabase stack: Postgres + pgvector, PostgREST and a gateway, no Docker.

It reproduces the slice of Supabase this project needs from real parts, so tests and the edge run
against the same kind of database, API and tokens as `supabase start` or a hosted project.
"""
