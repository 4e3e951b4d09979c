-- =============================================================================================
-- The worker renews its lease while it embeds
-- =============================================================================================
-- A claim's lease (20261202000400) must outlast the embedding, or another worker takes the
-- document over and both embed it (only one may write: the lease is checked). A long text on a
-- slow CPU can take longer than any fixed lease, so the worker renews the lease of the document
-- it is working on (every third of the lease), and a worker that died stops renewing: its claim
-- still expires and is taken again. false: the claim is no longer this worker's (new text, or it
-- expired and was taken); the worker then stops and writes nothing.
-- =============================================================================================

create function private.renew_embedding_lease(
  document_id uuid,
  lease_token uuid,
  lease_seconds integer default 300
)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
#variable_conflict use_variable
begin
  if lease_seconds is null or lease_seconds not between 5 and 3600 then
    raise exception 'lease_seconds must be 5 to 3600' using errcode = '22023';
  end if;
  update private.embedding_queue q
     set lease_expires_at = now() + make_interval(secs => lease_seconds)
   where q.document_id = document_id
     and q.lease_token = lease_token
     and q.lease_expires_at > now();
  return found;
end
$$;
comment on function private.renew_embedding_lease(uuid, uuid, integer) is
  'Keep a claim while its document is being embedded (embedding worker only).';
revoke execute on function private.renew_embedding_lease(uuid, uuid, integer)
  from public, anon, authenticated, service_role;
grant execute on function private.renew_embedding_lease(uuid, uuid, integer)
  to kb_embedding_worker;
