// jwtgate browser console. Plain JavaScript, no dependencies, no build step.
//
// Token handling (OWASP HTML5 Security Cheat Sheet, RFC 6819 section 5.1.6):
// - the access token, when the login response carries one, lives only in the
//   `accessToken` variable below: never localStorage/sessionStorage, never a URL;
// - the refresh token (and, in cookie mode, the access token) are HttpOnly cookies
//   that scripts cannot read;
// - every unsafe request sends the CSRF token in X-CSRF-Token (double submit,
//   bound to the access token's `csrf` claim and checked by the gateway).
// All text from the network is inserted with textContent, never innerHTML.
"use strict";

(() => {
  const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
  const CSRF_COOKIES = ["jwtgate-csrf", "__Host-jwtgate-csrf"];
  let accessToken = null;
  let csrfToken = null;
  let liveTimer = null;
  let signedIn = false; // the live panel polls only while someone is signed in

  const $ = (id) => document.getElementById(id);
  const pretty = (value) => JSON.stringify(value, null, 2);

  function readCookie(name) {
    for (const part of document.cookie.split(";")) {
      const [key, ...rest] = part.trim().split("=");
      if (key === name) return decodeURIComponent(rest.join("="));
    }
    return null;
  }

  function currentCsrf() {
    if (csrfToken) return csrfToken;
    for (const name of CSRF_COOKIES) {
      const value = readCookie(name);
      if (value) return value;
    }
    return null;
  }

  function b64urlDecode(segment) {
    const b64 = segment.replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    return new TextDecoder().decode(bytes);
  }

  // Decoded for display only: the browser does not (and cannot usefully) verify it.
  function decodeClaims(token) {
    const parts = token.split(".");
    if (parts.length !== 3) throw new Error("not a compact JWT");
    return { header: JSON.parse(b64urlDecode(parts[0])), claims: JSON.parse(b64urlDecode(parts[1])) };
  }

  async function call(method, url, { json, form, auth = true } = {}) {
    const headers = { Accept: "application/json" };
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams(form).toString();
    }
    if (auth && accessToken) headers.Authorization = "Bearer " + accessToken;
    const csrf = currentCsrf();
    if (!SAFE.has(method) && csrf) headers["X-CSRF-Token"] = csrf;
    const response = await fetch(url, {
      method, headers, body, credentials: "same-origin", cache: "no-store", redirect: "error",
    });
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    return { status: response.status, headers: response.headers, data };
  }

  function setMessage(text, ok) {
    const el = $("message");
    el.textContent = text;
    el.className = ok ? "status-ok" : "status-bad";
  }

  // Memory mode: the login body carries the access token; decode it here (display only).
  // Cookie mode: the access token is an HttpOnly cookie; ask the auth server for its claims.
  async function showSession(tokens) {
    if (tokens && typeof tokens.access_token === "string") accessToken = tokens.access_token;
    if (tokens && typeof tokens.csrf_token === "string") csrfToken = tokens.csrf_token;
    let claims = null;
    if (accessToken) {
      $("claims-label").textContent = "decoded, not verified (client-side)";
      $("mode").textContent = "(memory mode: access token in a JS variable)";
      try {
        const decoded = decodeClaims(accessToken);
        claims = decoded.claims;
        $("claims").textContent = pretty(decoded);
      } catch (err) {
        $("claims").textContent = "cannot decode: " + err.message;
      }
    } else {
      $("claims-label").textContent = "from /auth/me: the token is an HttpOnly cookie, unreadable by scripts";
      $("mode").textContent = "(cookie mode: HttpOnly cookies + CSRF token)";
      const r = await call("GET", "/auth/me");
      if (r.status === 200 && r.data && typeof r.data === "object") {
        claims = r.data;
        $("claims").textContent = pretty(r.data);
      } else {
        $("claims").textContent = "(no valid session: " + r.status + ")";
      }
    }
    signedIn = Boolean(claims);
    if (claims) {
      $("who").textContent = String(claims.sub ?? "?");
      $("roles").textContent = Array.isArray(claims.roles) ? claims.roles.join(", ") : "-";
    }
  }

  function clearSession(label) {
    accessToken = null;
    csrfToken = null;
    signedIn = false;
    $("who").textContent = "nobody";
    $("roles").textContent = "-";
    $("mode").textContent = "";
    $("claims").textContent = label || "(no token)";
  }

  async function login(event) {
    event.preventDefault();
    const username = $("username").value;
    const password = $("password").value;
    $("password").value = "";
    clearSession();
    // Cookie mode either way (refresh token in an HttpOnly cookie, CSRF token returned);
    // access_cookie chooses where the access token lives.
    const memory = $("memory-mode").checked;
    const body = { username, password, cookie: true, access_cookie: !memory };
    const r = await call("POST", "/auth/login", { json: body, auth: false });
    if (r.status === 200) {
      setMessage("logged in as " + username, true);
      if (r.data && r.data.refresh_token) delete r.data.refresh_token; // never kept by scripts
      await showSession(r.data);
      refreshLive();
    } else {
      const desc = r.data && r.data.error ? r.data.error + ": " + (r.data.error_description || "") : "";
      setMessage("login failed (" + r.status + ") " + desc, false);
    }
  }

  async function refresh() {
    const r = await call("POST", "/auth/token", { form: { grant_type: "refresh_token" }, auth: false });
    if (r.status === 200) {
      setMessage("refreshed", true);
      if (r.data && r.data.refresh_token) delete r.data.refresh_token;
      accessToken = null;
      await showSession(r.data);
    } else {
      setMessage("refresh failed (" + r.status + ") " + (r.data && r.data.error ? r.data.error : ""), false);
    }
  }

  async function logout(path, label) {
    const r = await call("POST", path);
    setMessage(label + ": " + r.status, r.status < 300);
    // The access token is now revoked at the gateway; keep it for one more call so the
    // 401 is visible, but show that the session ended.
    if (r.status < 300) {
      signedIn = false;
      $("who").textContent = "nobody (logged out)";
      $("roles").textContent = "-";
      $("claims").textContent = "(logged out; the access token is revoked)";
      csrfToken = null;
    }
  }

  async function api(method, url) {
    $("api-request").textContent = method + " " + url;
    const r = await call(method, url, method === "GET" ? {} : { json: { hello: "jwtgate" } });
    const status = $("api-status");
    status.textContent = String(r.status);
    status.className = r.status < 300 ? "status-ok" : "status-bad";
    $("api-www").textContent = r.headers.get("WWW-Authenticate") || "-";
    $("api-body").textContent = typeof r.data === "string" ? r.data : pretty(r.data);
  }

  async function loadKeys() {
    const jwks = await call("GET", "/auth/.well-known/jwks.json", { auth: false });
    if (jwks.status !== 200 || !jwks.data || !Array.isArray(jwks.data.keys)) {
      $("jwks").textContent = "JWKS unavailable (" + jwks.status + ")";
    } else {
      $("jwks").textContent = pretty(jwks.data);
    }
    const meta = await call("GET", "/console/keys.json", { auth: false });
    if (meta.status === 200 && meta.data && meta.data.active_kid) {
      $("active-kid").textContent = meta.data.active_kid;
      $("key-states").textContent = meta.data.keys.map((k) => k.kid.slice(0, 12) + "… " + k.alg + " " + k.state).join("\n");
    }
  }

  function auditRow(event) {
    const tr = document.createElement("tr");
    const { ts, event: name, user, sub, client_id: clientId, ...rest } = event;
    const cells = [
      typeof ts === "number" ? new Date(ts * 1000).toISOString().slice(11, 19) : "",
      String(name ?? ""),
      String(user ?? sub ?? clientId ?? ""),
      JSON.stringify(rest),
    ];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    return tr;
  }

  async function refreshLive() {
    if (!signedIn) return;
    const audit = await call("GET", "/auth/admin/audit?limit=15");
    const body = $("audit").querySelector("tbody");
    body.replaceChildren();
    if (audit.status === 200) {
      const events = (audit.data && audit.data.events) || [];
      events.forEach((e) => body.appendChild(auditRow(e)));
      $("audit-status").textContent = events.length + " recent events";
    } else {
      $("audit-status").textContent = "audit: " + audit.status + (audit.status === 403 ? " (admin role needed)" : "");
    }
    const stats = await call("GET", "/api/stats");
    $("stats-status").textContent = "counters: " + stats.status;
    $("stats").textContent = stats.status === 200 ? pretty(stats.data) : "";
    loadKeys();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", login);
    $("btn-refresh").addEventListener("click", refresh);
    $("btn-logout").addEventListener("click", () => logout("/auth/logout", "logout"));
    $("btn-logout-all").addEventListener("click", () => logout("/auth/logout-all", "logout everywhere"));
    $("btn-echo").addEventListener("click", () => api("GET", "/api/echo/hello?x=1"));
    $("btn-admin").addEventListener("click", () => api("GET", "/api/admin/area"));
    $("btn-public").addEventListener("click", () => api("GET", "/api/public/info"));
    $("btn-echo-post").addEventListener("click", () => api("POST", "/api/echo/submit"));
    loadKeys();
    if (currentCsrf()) showSession(null); // a reload in cookie mode: the session is still there
    liveTimer = setInterval(refreshLive, 5000);
    window.addEventListener("pagehide", () => clearInterval(liveTimer));
  });
})();
