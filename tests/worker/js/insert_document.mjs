// A plain supabase-js insert, as an app signed in as its user writes a document: text only.
// Run by tests/worker/test_automatic_embeddings.py with API_URL, ANON_KEY, USER_TOKEN, CONTENT.
// Prints the inserted row's {id, embedding_status}.
import { createClient } from "@supabase/supabase-js";

const { API_URL, ANON_KEY, USER_TOKEN, CONTENT } = process.env;
const supabase = createClient(API_URL, ANON_KEY, {
  global: { headers: { Authorization: `Bearer ${USER_TOKEN}` } },
  auth: { persistSession: false, autoRefreshToken: false },
});
const { data, error } = await supabase
  .from("documents")
  .insert({ title: "From supabase-js", content: CONTENT })
  .select("id, embedding_status")
  .single();
if (error) {
  console.error(JSON.stringify(error));
  process.exit(1);
}
console.log(JSON.stringify(data));
