-- =============================================================================================
-- Chunk visibility the planner can answer from indexes
-- =============================================================================================
-- The same rule as before (owner, or member of the chunk's workspace in any role), written so
-- both arms of the OR are index conditions. `workspace_id in (select ...)` becomes a hashed
-- SubPlan, which the planner can only apply as a filter: every RLS-restricted read of
-- document_chunks was a sequential scan of the whole table, and a user owning 2,000 of 200,000
-- rows paid 160 ms to count them. `workspace_id = any (array(select ...))` is an InitPlan (run
-- once per statement, like before) whose value the planner can use in an index condition, so the
-- rows a caller may see are found by a BitmapOr of the owner and workspace indexes (12 ms, most of
-- it visiting the 2,000 rows). Which rows pass is unchanged; the RLS matrix tests hold it.
-- (The policy's name is longer than 63 characters: Postgres stores it truncated, and truncates
-- the name given here the same way.)
alter policy "Chunks are readable by their document's owner and workspace members"
  on public.document_chunks
  using (
    (select private.token_allows('knowledge:read'))
    and (
      owner_id = (select auth.uid())
      or workspace_id = any (array(select private.caller_workspace_ids('{owner,editor,viewer}')))
    )
  );
