-- =============================================================================================
-- Argument checks shared by the search functions
-- =============================================================================================
-- Raised with SQLSTATE 22023 (invalid_parameter_value), which PostgREST answers with 400 and the
-- message intact, naming the argument. Runs before any row is read.
create function private.check_search_arguments(
  query_embedding extensions.vector,
  match_count integer,
  filter jsonb,
  match_threshold double precision,
  filter_category text
)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if query_embedding is null then
    raise exception 'query_embedding is required' using errcode = '22023';
  end if;
  -- Function arguments drop their typmod, so vector(384) alone would not reject other sizes.
  if extensions.vector_dims(query_embedding) <> 384 then
    raise exception 'query_embedding must have 384 dimensions, not %',
      extensions.vector_dims(query_embedding)
      using errcode = '22023';
  end if;
  if match_count is not null and (match_count < 1 or match_count > 1000) then
    raise exception 'match_count must be between 1 and 1000, not %', match_count
      using errcode = '22023';
  end if;
  if filter is not null and jsonb_typeof(filter) <> 'object' then
    raise exception 'filter must be a JSON object of metadata to match, not a JSON %',
      jsonb_typeof(filter)
      using errcode = '22023',
            hint = 'Example: {"lang": "en"} matches documents whose metadata contains it.';
  end if;
  if match_threshold is not null
     and (match_threshold = 'NaN'::double precision or match_threshold < -1 or match_threshold > 1) then
    raise exception 'match_threshold must be a similarity between -1 and 1, not %', match_threshold
      using errcode = '22023';
  end if;
  if char_length(filter_category) > 100 then
    raise exception 'filter_category is longer than 100 characters' using errcode = '22023';
  end if;
end
$$;
revoke execute on function private.check_search_arguments from public;
grant execute on function private.check_search_arguments to authenticated, service_role;
