// LangChain.js's SupabaseVectorStore (@langchain/community, unmodified) as the signed-in user.
// Run by tests/langchain/test_langchain_js.py with API_URL, ANON_KEY, USER_TOKEN, MARKER, MODE.
// MODE=write: addDocuments, similaritySearch, delete; prints {"ids": [...], "deleted": id}.
// MODE=refused: overwrite and delete TARGET_ID; prints {"refusals": [message or null, ...]}.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { SupabaseVectorStore } from "@langchain/community/vectorstores/supabase";
import { Document } from "@langchain/core/documents";
import { Embeddings } from "@langchain/core/embeddings";
import { createClient } from "@supabase/supabase-js";

const { API_URL, ANON_KEY, USER_TOKEN, MARKER, MODE } = process.env;
// Vectors that arrive already embedded are recorded under the model the caller states: here in
// metadata, the one field LangChain.js sends besides content and embedding.
const MODEL = "langchain-js-hash-384";

/** 384 numbers from a text's hashes, unit length: the same text, the same vector. */
function hashVector(text) {
  const values = [];
  for (let block = 0; values.length < 384; block++) {
    const digest = createHash("sha256").update(`${block}:${text}`).digest();
    for (const byte of digest) values.push(byte / 127.5 - 1);
  }
  const vector = values.slice(0, 384);
  const norm = Math.hypot(...vector);
  return vector.map((x) => x / norm);
}

class HashEmbeddings extends Embeddings {
  constructor() {
    super({});
  }
  async embedDocuments(texts) {
    return texts.map(hashVector);
  }
  async embedQuery(text) {
    return hashVector(text);
  }
}

const client = createClient(API_URL, ANON_KEY, {
  global: { headers: { Authorization: `Bearer ${USER_TOKEN}` } },
  auth: { persistSession: false, autoRefreshToken: false },
});
const store = new SupabaseVectorStore(new HashEmbeddings(), {
  client,
  tableName: "vector_store",
  queryName: "match_documents",
});
const texts = [`Owls ${MARKER} hunt at night.`, `Swifts ${MARKER} sleep while flying.`];
const documents = texts.map(
  (text, n) => new Document({ pageContent: text, metadata: { embedding_model: MODEL, n } }),
);

if (MODE === "refused") {
  // Overwrite, then delete, a document the caller may read but not change (TARGET_ID).
  const refusals = [];
  for (const attempt of [
    () => store.addDocuments([documents[0]], { ids: [process.env.TARGET_ID] }),
    () => store.delete({ ids: [process.env.TARGET_ID] }),
  ]) {
    try {
      await attempt();
      refusals.push(null);
    } catch (error) {
      refusals.push(String(error.message));
    }
  }
  console.log(JSON.stringify({ refusals }));
  process.exit(0);
}

const ids = await store.addDocuments(documents);
assert.equal(ids.length, 2);
// The metadata filter also keeps the search to this model's vectors.
const found = await store.similaritySearch(texts[1], 1, { embedding_model: MODEL });
assert.equal(found.length, 1);
assert.equal(found[0].pageContent, texts[1]);
assert.equal(found[0].metadata.n, 1);
await store.delete({ ids: [ids[0]] });
const after = await store.similaritySearch(texts[0], 2, { embedding_model: MODEL });
assert.ok(!after.some((d) => d.pageContent === texts[0]), "a deleted text is still found");
console.log(JSON.stringify({ ids, deleted: ids[0] }));
