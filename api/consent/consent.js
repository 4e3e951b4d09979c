// The authorization (consent) page Supabase Auth's OAuth 2.1 server sends a user to when an
// agent asks for access: {SITE_URL}{authorization path}?authorization_id=<id>.
//
// It shows the agent (Supabase Auth's details of the authorization), lets the user choose read
// or write, records that choice as the user's grant in public.agent_grants through PostgREST with
// the user's own token (the database lets only a user's own session write it), then tells
// Supabase Auth "approve" or "deny" and follows the redirect it answers with. Plain browser
// JavaScript, no build step; the same calls supabase-js makes (auth.oauth.getAuthorizationDetails,
// approveAuthorization / denyAuthorization, from("agent_grants").upsert(...)).
"use strict";

const config = {
  url: document.querySelector('meta[name="supabase-url"]').content.replace(/\/+$/, ""),
  anonKey: document.querySelector('meta[name="supabase-anon-key"]').content,
};
// Where supabase-js keeps a signed-in session in this origin's localStorage: an app on this site
// that signed the user in has left it here, and signing in on this page leaves it for the app.
const sessionKey = `sb-${new URL(config.url).hostname.split(".")[0]}-auth-token`;
const authorizationId = new URLSearchParams(window.location.search).get("authorization_id");

const $ = (id) => document.getElementById(id);

function say(message, kind = "info") {
  $("status").textContent = message;
  $("status").dataset.kind = kind;
}

class RequestFailed extends Error {}

async function call(method, path, { token, body, headers = {} } = {}) {
  const response = await fetch(config.url + path, {
    method,
    headers: {
      apikey: config.anonKey,
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (!response.ok) {
    const reason = (data && (data.msg || data.message || data.error_description || data.error)) ||
      `HTTP ${response.status}`;
    throw new RequestFailed(`${reason} (HTTP ${response.status})`);
  }
  return data;
}

function storedSession() {
  try {
    const session = JSON.parse(window.localStorage.getItem(sessionKey) || "null");
    return session && session.access_token ? session : null;
  } catch {
    return null;
  }
}

function keep(session) {
  const expiresAt = session.expires_at ||
    Math.floor(Date.now() / 1000) + Number(session.expires_in || 0);
  const kept = { ...session, expires_at: expiresAt };
  window.localStorage.setItem(sessionKey, JSON.stringify(kept));
  return kept;
}

// A session whose access token has a minute left at least (refreshed through Supabase Auth).
async function usable(session) {
  const left = Number(session.expires_at || 0) - Math.floor(Date.now() / 1000);
  if (left > 60 || !session.refresh_token) {
    return session;
  }
  return keep(await call("POST", "/auth/v1/token?grant_type=refresh_token", {
    body: { refresh_token: session.refresh_token },
  }));
}

function signIn() {
  $("sign-in").hidden = false;
  say("Sign in to your account to continue.");
  return new Promise((resolve) => {
    $("sign-in").addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = new FormData(event.target);
      try {
        const session = await call("POST", "/auth/v1/token?grant_type=password", {
          body: { email: form.get("email"), password: form.get("password") },
        });
        $("sign-in").hidden = true;
        resolve(keep(session));
      } catch (error) {
        say(`Could not sign in: ${error.message}`, "error");
      }
    });
  });
}

// Only ever to the address Supabase Auth answered with (the agent's registered redirect URI).
function follow(address) {
  const target = new URL(address);
  if (["javascript:", "data:", "vbscript:", "file:"].includes(target.protocol)) {
    throw new RequestFailed("Supabase Auth answered with an address this page will not open");
  }
  say("Done: returning you to the agent.");
  window.location.assign(target.href);
}

function show(details) {
  const client = details.client || {};
  $("client-name").textContent = client.name || "An unnamed application";
  $("client-id").textContent = client.id || "";
  if (client.uri) {
    $("client-uri").textContent = client.uri;
    $("client-uri-line").hidden = false;
  }
  if (client.logo_uri && new URL(client.logo_uri).protocol === "https:") {
    $("client-logo").src = client.logo_uri;
    $("client-logo").hidden = false;
  }
  $("user-email").textContent = (details.user && details.user.email) || "";
  $("scopes").textContent = details.scope || "(no scopes)";
  $("consent").hidden = false;
  say("");
}

async function decide(decision, details, session) {
  const path = `/auth/v1/oauth/authorizations/${encodeURIComponent(authorizationId)}/consent`;
  if (decision === "approve") {
    const access = new FormData($("consent")).get("access");
    const client = details.client || {};
    // The grant first: the agent's first request after the redirect must find it.
    say("Recording your choice…");
    await call("POST", "/rest/v1/agent_grants?on_conflict=user_id,client_id", {
      token: session.access_token,
      headers: { Prefer: "resolution=merge-duplicates,return=minimal" },
      body: {
        client_id: client.id,
        access,
        ...(client.name ? { client_name: String(client.name).slice(0, 200) } : {}),
      },
    });
  }
  const answer = await call("POST", path, {
    token: session.access_token,
    body: { action: decision },
  });
  follow(answer.redirect_url || answer.redirect_to);
}

async function main() {
  if (!authorizationId) {
    say(
      "This page is opened by Supabase Auth when an agent asks for access: its address " +
        "carries an authorization_id, and this one has none.",
      "error",
    );
    return;
  }
  let session = storedSession() || await signIn();
  session = await usable(session);
  say("Asking Supabase Auth about this request…");
  const details = await call(
    "GET",
    `/auth/v1/oauth/authorizations/${encodeURIComponent(authorizationId)}`,
    { token: session.access_token },
  );
  if (details.redirect_url || details.redirect_to) {
    // The user approved this agent before and that approval still stands.
    follow(details.redirect_url || details.redirect_to);
    return;
  }
  show(details);
  $("consent").addEventListener("submit", async (event) => {
    event.preventDefault();
    const decision = event.submitter && event.submitter.value;
    for (const button of $("consent").querySelectorAll("button")) {
      button.disabled = true;
    }
    try {
      await decide(decision === "approve" ? "approve" : "deny", details, session);
    } catch (error) {
      say(`Something went wrong: ${error.message}`, "error");
      for (const button of $("consent").querySelectorAll("button")) {
        button.disabled = false;
      }
    }
  });
}

main().catch((error) => say(`Something went wrong: ${error.message}`, "error"));
