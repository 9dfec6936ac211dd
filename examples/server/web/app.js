/*
 * The booking web app: sign in, wait in the queue, pick a seat, pay.
 *
 * Plain JavaScript, no build step, served by concertd (handlers_static.c).
 * Everything it does goes through the public HTTP API (docs/http.md).
 * Live data comes over Server-Sent Events; whenever a stream cannot be
 * opened or drops, the page polls the same document with If-None-Match
 * instead, and tries the stream again a little later.
 *
 * What must survive a reload lives in sessionStorage (per tab, so two tabs
 * can be two buyers): the queue token, the JWT, the demo user id, the holds
 * this tab made (to colour them "mine") and a payment in flight (to retry it
 * with the same Idempotency-Key).
 *
 * The page never puts server text into HTML: every text goes through
 * textContent, so the Content-Security-Policy is a second line of defence.
 */
"use strict";

(function () {
  const POLL_QUEUE_MS = 1500;
  const POLL_SEATS_MS = 2000;
  const SSE_RETRY_MS = 20000;

  /* ---------------- small helpers ---------------- */

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      node.setAttribute(k, v === true ? "" : String(v));
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const saved = {
    get(key) {
      try {
        const raw = sessionStorage.getItem("concert." + key);
        return raw === null ? null : JSON.parse(raw);
      } catch (e) {
        return null;
      }
    },
    set(key, value) {
      try {
        if (value === null || value === undefined) sessionStorage.removeItem("concert." + key);
        else sessionStorage.setItem("concert." + key, JSON.stringify(value));
      } catch (e) {
        /* storage full or disabled: the page still works until a reload */
      }
    },
  };

  /* An Idempotency-Key: random, printable ASCII. crypto.randomUUID() needs a
   * secure context; getRandomValues() works everywhere. */
  function newKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /* ---------------- state ---------------- */

  const S = {
    lang: "en",
    auth: null,          // "none" | "jwt" | "header"
    userId: saved.get("user"),
    jwt: saved.get("jwt"),
    token: saved.get("token"),
    tokenDoc: null,
    joinPos: saved.get("joinPos"),
    opensAt: null,       // ms, when the queue is SCHEDULED
    concerts: null,
    concert: null,       // the concert whose schedules are shown
    schedules: null,
    schedule: saved.get("schedule"), // {id, starts_at, title}
    seats: new Map(),    // number -> {number, grade, price, status, held_until}
    seatsEtag: null,
    seatsFromList: false, // no seat map route: built from the free list
    holds: saved.get("holds") || [], // [{id, schedule_id, seat_number, grade, price, deadline}]
    balance: null,
    pendingPay: saved.get("pendingPay"),       // {ids, key}
    pendingCharge: saved.get("pendingCharge"), // {amount, key}
    paying: false,
    shortBy: 0,
    confirmation: null,
    error: null,         // {key, params}
    notice: null,        // {key, params}
    view: "loading",
  };

  /* ---------------- words ---------------- */

  function t(key, params) {
    const table = window.I18N[S.lang] || window.I18N.en;
    let text = table[key];
    if (text === undefined) text = window.I18N.en[key];
    if (text === undefined) return key;
    for (const [k, v] of Object.entries(params || {})) text = text.split("{" + k + "}").join(String(v));
    return text;
  }

  function num(n) {
    return new Intl.NumberFormat(S.lang === "ko" ? "ko-KR" : "en-US").format(n);
  }

  function points(n) {
    return t("common.points", { n: num(n) });
  }

  function dateTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return new Intl.DateTimeFormat(S.lang === "ko" ? "ko-KR" : "en-US", {
      dateStyle: "full",
      timeStyle: "short",
    }).format(d);
  }

  /* "1:02:03", "4:05" */
  function clock(seconds) {
    seconds = Math.max(0, Math.ceil(seconds));
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
    return (h > 0 ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }

  function duration(seconds) {
    if (S.lang === "ko") {
      if (seconds < 60) return "1분 이내";
      const m = Math.round(seconds / 60);
      return m < 60 ? "약 " + m + "분" : "약 " + Math.floor(m / 60) + "시간 " + (m % 60) + "분";
    }
    if (seconds < 60) return "under a minute";
    const m = Math.round(seconds / 60);
    return m < 60 ? "about " + m + " min" : "about " + Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function preferredLang() {
    const chosen = localStorage.getItem("concert.lang");
    if (chosen === "ko" || chosen === "en") return chosen;
    for (const l of navigator.languages || [navigator.language || "en"]) {
      const base = String(l).toLowerCase().split("-")[0];
      if (base === "ko" || base === "en") return base;
    }
    return "en";
  }

  function setLang(lang) {
    S.lang = lang === "ko" ? "ko" : "en";
    document.documentElement.lang = S.lang;
    $("lang").value = S.lang;
    document.title = t("app.title");
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    renderAll();
  }

  /* ---------------- messages ---------------- */

  /* An error from the server (code and its English message) as a sentence. */
  function errorFor(code, message) {
    if (code === "HOLD_LIMIT") {
      // The limit is in the server's English message: "at most 4 seats held
      // at once per buyer", or "... per buyer for concert 7 (held and paid)".
      const m = /at most (\d+)/.exec(message || "");
      if (m) return { key: /for concert/.test(message) ? "error.HOLD_LIMIT_CONCERT" : "error.HOLD_LIMIT_N",
                      params: { n: m[1] } };
    }
    if (code && window.I18N.en["error." + code] !== undefined) return { key: "error." + code };
    return { key: "error.unknown" };
  }

  function showError(err) {
    S.error = err;
    S.notice = null;
    renderMessages();
  }

  function showNotice(key, params) {
    S.notice = { key, params };
    S.error = null;
    renderMessages();
  }

  function clearMessages() {
    S.error = null;
    S.notice = null;
    renderMessages();
  }

  function renderMessages() {
    const box = $("message");
    if (S.error) {
      box.textContent = t(S.error.key, S.error.params);
      box.hidden = false;
    } else {
      box.textContent = "";
      box.hidden = true;
    }
    const note = $("notice");
    if (S.notice) {
      note.textContent = t(S.notice.key, S.notice.params);
      note.hidden = false;
    } else {
      note.textContent = "";
      note.hidden = true;
    }
  }

  /* ---------------- the API ---------------- */

  class NetworkError extends Error {}

  /* One call. Resolves to {status, data, etag, date, error: {code, message}};
   * rejects with NetworkError when no answer came. */
  async function api(method, path, opts) {
    opts = opts || {};
    const headers = {};
    if (opts.token && S.token) headers["Authorization"] = "Bearer " + S.token;
    // Before /api/v1/session has told the mode too: other modes ignore it.
    if (S.jwt && S.auth !== "none") headers["X-User-Token"] = S.jwt;
    if (opts.etag) headers["If-None-Match"] = opts.etag;
    if (opts.key) headers["Idempotency-Key"] = opts.key;
    let body;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    let res;
    try {
      res = await fetch(path, { method, headers, body, cache: "no-store", credentials: "same-origin" });
    } catch (e) {
      throw new NetworkError(String(e));
    }
    const out = { status: res.status, data: null, error: null, etag: res.headers.get("ETag"),
                  date: res.headers.get("Date") };
    if (res.status !== 204 && res.status !== 304) {
      const text = await res.text().catch(() => "");
      try {
        out.data = text ? JSON.parse(text) : null;
      } catch (e) {
        out.data = null;
      }
    }
    if (res.status >= 400) {
      const e = out.data && out.data.error;
      out.error = { code: e && e.code ? e.code : "INTERNAL", message: e && e.message ? e.message : "" };
    }
    return out;
  }

  /* Handle what every booking call may run into. Returns true when it
   * moved the page somewhere else (the caller stops). */
  function handleCommonError(err) {
    switch (err.code) {
      case "TOKEN_INVALID":
        forgetToken();
        showError(errorFor(err.code));
        showJoin();
        return true;
      case "TOKEN_NOT_ACTIVE":
        showError(errorFor(err.code));
        enterWaiting();
        return true;
      case "AUTH_REQUIRED":
      case "AUTH_INVALID":
        if (S.auth === "jwt") {
          S.jwt = null;
          saved.set("jwt", null);
        }
        forgetToken();
        showError(errorFor(err.code));
        showJoin();
        return true;
      default:
        return false;
    }
  }

  function showFailure(e) {
    if (e instanceof NetworkError) showError({ key: "error.network" });
    else {
      console.error(e);
      showError({ key: "error.unknown" });
    }
  }

  /* ---------------- views ---------------- */

  function show(view) {
    if (S.view !== view) window.scrollTo(0, 0);
    S.view = view;
    for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== "view-" + view;
    document.body.dataset.view = view;
  }

  function renderAll() {
    renderMessages();
    renderWho();
    renderSignin();
    renderWaiting();
    renderConcerts();
    renderSchedules();
    renderSeatmap();
    renderOrder();
    renderConfirmation();
  }

  function renderWho() {
    const who = $("whoami");
    const id = S.auth === "none" ? S.userId : S.userId;
    who.hidden = !id;
    who.textContent = id ? t("signin.whoami", { id }) : "";
    $("signout").hidden = !(S.auth === "none" && id);
  }

  /* ---------------- sign in and join ---------------- */

  function renderSignin() {
    if (S.auth === null) return;
    const none = S.auth === "none";
    $("signin-none").hidden = !none;
    $("signin-jwt").hidden = !(S.auth === "jwt" && !S.userId);
    $("signin-header").hidden = !(S.auth === "header" && !S.userId);
    const title = $("view-signin").querySelector("h1");
    title.textContent = t(none || !S.userId ? "signin.title" : "signin.joinTitle");
    const button = $("signin");
    button.hidden = !none && !S.userId;
    button.textContent = t(none ? "signin.button" : "signin.join");
    if (none && S.userId && !$("user-id").value) $("user-id").value = S.userId;
  }

  function showJoin() {
    stopQueueFeed();
    stopSeatFeed();
    show("signin");
    renderSignin();
    renderWho();
  }

  async function onSignin(ev) {
    ev.preventDefault();
    if (S.auth === "none") {
      const text = $("user-id").value.trim();
      if (!/^[0-9]{1,15}$/.test(text) || Number(text) < 1) {
        showError({ key: "error.userId" });
        $("user-id").focus();
        return;
      }
      await join(Number(text));
      return;
    }
    await join(S.userId);
  }

  /* Join the queue as userId (with --auth none: whoever the buyer named;
   * otherwise the identity). Only a join that worked signs the user in, so
   * a mistyped id leaves nobody signed in. */
  async function join(userId) {
    const button = $("signin");
    button.disabled = true;
    try {
      const body = S.auth === "none" ? { user_id: userId } : {};
      if (S.auth === "none" && S.token && userId !== S.userId) forgetToken();
      const r = await api("POST", "/api/v1/queue/tokens", { body });
      if (r.error) {
        if (r.error.code === "AUTH_INVALID" || r.error.code === "AUTH_REQUIRED") handleCommonError(r.error);
        else showError(errorFor(r.error.code, r.error.message));
        return;
      }
      clearMessages();
      if (S.auth === "none" && userId !== S.userId) {
        // Another buyer in this tab: the previous one's holds are not theirs.
        S.holds = [];
        saveHolds();
        S.balance = null;
        S.userId = userId;
        saved.set("user", S.userId);
        renderWho();
      }
      S.token = r.data.token;
      saved.set("token", S.token);
      S.joinPos = null;
      saved.set("joinPos", null);
      onTokenDoc(r.data);
    } catch (e) {
      showFailure(e);
    } finally {
      button.disabled = false;
    }
  }

  function forgetToken() {
    stopQueueFeed();
    stopSeatFeed();
    S.token = null;
    S.tokenDoc = null;
    S.joinPos = null;
    saved.set("token", null);
    saved.set("joinPos", null);
  }

  async function signOut() {
    const token = S.token;
    if (token && S.tokenDoc && S.tokenDoc.status === "WAITING")
      api("DELETE", "/api/v1/queue/tokens/current", { token: true }).catch(() => {});
    forgetToken();
    S.userId = null;
    S.holds = [];
    saved.set("user", null);
    saved.set("holds", []);
    saved.set("schedule", null);
    S.schedule = null;
    $("user-id").value = "";
    clearMessages();
    showJoin();
  }

  /* ---------------- live feeds ---------------- */

  /* A stream URL: EventSource cannot send headers, so the tokens go in the query. */
  function feedUrl(path) {
    let url = path + "?token=" + encodeURIComponent(S.token);
    if (S.auth === "jwt" && S.jwt) url += "&user_token=" + encodeURIComponent(S.jwt);
    return url;
  }

  /* The queue and the seat map share one life cycle: a stream that stops the
   * polling once open; the server's own "event: error" ends the feed; a
   * missing or dropped stream falls back to polling and the stream is tried
   * again after SSE_RETRY_MS if the page still wants it. `feed` holds es and
   * retry; events maps an event name to its handler. */
  function openFeed(feed, url, o) {
    const es = new EventSource(url);
    feed.es = es;
    es.addEventListener("open", () => o.stopPolling());
    for (const name of Object.keys(o.events)) {
      es.addEventListener(name, (ev) => {
        if (feed.es !== es) return;
        try {
          o.events[name](ev);
        } catch (e) {
          console.error(e);
        }
      });
    }
    es.addEventListener("error", (ev) => {
      if (feed.es !== es) return;
      if (ev.data) {
        // The server's own "event: error": the token ended or is not valid.
        o.stop();
        let err = { code: "TOKEN_INVALID", message: "" };
        try {
          err = JSON.parse(ev.data).error || err;
        } catch (e) { /* keep the default */ }
        if (!handleCommonError(err)) showError(errorFor(err.code, err.message));
        return;
      }
      // No stream (an older server, a proxy) or it dropped: poll, retry later.
      es.close();
      feed.es = null;
      o.startPolling();
      feed.retry = setTimeout(() => {
        feed.retry = null;
        if (o.stillWanted()) {
          o.stopPolling();
          o.restart();
        }
      }, SSE_RETRY_MS);
    });
  }

  /* ---------------- the waiting room ---------------- */

  const queueFeed = { es: null, poll: null, retry: null, etag: null };

  function onTokenDoc(doc) {
    S.tokenDoc = doc;
    if (doc.status === "ACTIVE") {
      stopQueueFeed();
      const wasWaiting = S.view === "waiting";
      enterBooking();
      if (wasWaiting) showNotice("info.admitted");
      return;
    }
    if (typeof doc.position === "number" && doc.position > 0 && (!S.joinPos || doc.position > S.joinPos)) {
      S.joinPos = doc.position;
      saved.set("joinPos", S.joinPos);
    }
    if (S.view !== "waiting") enterWaiting();
    else renderWaiting();
    if (doc.queue_state === "SCHEDULED" && S.opensAt === null) loadOpensAt();
    if (doc.queue_state !== "SCHEDULED") S.opensAt = null;
  }

  function enterWaiting() {
    stopSeatFeed();
    show("waiting");
    renderWaiting();
    startQueueFeed();
  }

  function renderWaiting() {
    const doc = S.tokenDoc;
    if (!doc) return;
    const pos = doc.position;
    const placed = typeof pos === "number" && pos > 0;
    $("position").textContent = placed ? t("waiting.positionValue", { n: num(pos) }) : t("waiting.positionPending");
    $("position").classList.toggle("pending", !placed);
    $("eta").textContent = typeof doc.eta_seconds === "number" ? duration(doc.eta_seconds) : t("waiting.etaUnknown");
    const bar = $("progress");
    if (typeof pos === "number" && pos > 0 && S.joinPos) {
      // Full when the turn comes; the first in line is nearly there.
      bar.max = S.joinPos + 1;
      bar.value = Math.max(0, S.joinPos - pos + 1);
    } else {
      bar.removeAttribute("value"); // indeterminate: no place yet
    }
    const state = doc.queue_state || "OPEN";
    $("queue-state").textContent = t("state." + state);
    $("queue-state").dataset.state = state;
    renderCountdown();
  }

  function renderCountdown() {
    const box = $("countdown");
    const scheduled = S.tokenDoc && S.tokenDoc.queue_state === "SCHEDULED" && S.opensAt !== null;
    box.hidden = !scheduled;
    if (!scheduled) return;
    const left = (S.opensAt - Date.now()) / 1000;
    box.textContent = left > 0 ? t("waiting.countdown", { t: clock(left) }) : t("waiting.countdownSoon");
  }

  /* opens_at is on the public queue page, not in the token's document. */
  async function loadOpensAt() {
    S.opensAt = 0; // asked; a failure leaves the countdown hidden
    try {
      const r = await api("GET", "/api/v1/queue");
      if (!r.error && r.data && r.data.opens_at) {
        S.opensAt = Date.parse(r.data.opens_at);
        renderCountdown();
      } else S.opensAt = null;
    } catch (e) {
      S.opensAt = null;
    }
  }

  function startQueueFeed() {
    if (queueFeed.es || queueFeed.poll) return;
    if (!window.EventSource) return startQueuePolling();
    openFeed(queueFeed, feedUrl("/api/v1/queue/tokens/current/events"), {
      events: { queue: (ev) => onTokenDoc(JSON.parse(ev.data)) },
      stop: stopQueueFeed,
      startPolling: startQueuePolling,
      stopPolling: stopQueuePolling,
      stillWanted: () => S.view === "waiting" && S.token,
      restart: startQueueFeed,
    });
  }

  function startQueuePolling() {
    if (queueFeed.poll) return;
    const tick = async () => {
      if (!S.token) return;
      try {
        const r = await api("GET", "/api/v1/queue/tokens/current", { token: true, etag: queueFeed.etag });
        if (r.status === 304) return;
        if (r.error) {
          if (!handleCommonError(r.error)) showError(errorFor(r.error.code, r.error.message));
          return;
        }
        queueFeed.etag = r.etag;
        if (S.error && S.error.key === "error.network") clearMessages();
        onTokenDoc(r.data);
      } catch (e) {
        showFailure(e);
      }
    };
    queueFeed.poll = setInterval(tick, POLL_QUEUE_MS);
    tick();
  }

  function stopQueuePolling() {
    if (queueFeed.poll) clearInterval(queueFeed.poll);
    queueFeed.poll = null;
    queueFeed.etag = null;
  }

  function stopQueueFeed() {
    if (queueFeed.es) queueFeed.es.close();
    queueFeed.es = null;
    if (queueFeed.retry) clearTimeout(queueFeed.retry);
    queueFeed.retry = null;
    stopQueuePolling();
  }

  async function leaveQueue() {
    try {
      const r = await api("DELETE", "/api/v1/queue/tokens/current", { token: true });
      if (r.error && r.error.code !== "TOKEN_INVALID") {
        showError(errorFor(r.error.code, r.error.message));
        return;
      }
      forgetToken();
      showNotice("info.left");
      showJoin();
    } catch (e) {
      showFailure(e);
    }
  }

  /* ---------------- concerts and dates ---------------- */

  function enterBooking() {
    if (S.schedule) {
      openSchedule(S.schedule);
      return;
    }
    show("concerts");
    loadConcerts();
  }

  async function loadConcerts() {
    try {
      const r = await api("GET", "/api/v1/concerts", { token: true });
      if (r.error) {
        if (!handleCommonError(r.error)) showError(errorFor(r.error.code, r.error.message));
        return;
      }
      S.concerts = r.data.concerts;
      renderConcerts();
    } catch (e) {
      showFailure(e);
    }
  }

  function renderConcerts() {
    const list = $("concert-list");
    list.textContent = "";
    if (!S.concerts) return;
    if (S.concerts.length === 0) {
      list.append(el("p", { class: "hint" }, t("concerts.none")));
      return;
    }
    for (const c of S.concerts) {
      const b = el("button", {
        type: "button",
        class: "concert" + (S.concert && S.concert.id === c.id ? " selected" : ""),
        "data-testid": "concert",
        "data-concert-id": c.id,
        "aria-pressed": S.concert && S.concert.id === c.id ? "true" : "false",
      });
      b.append(el("span", { class: "concert-title" }, c.title));
      if (c.max_per_user) b.append(el("span", { class: "hint" }, t("concerts.limit", { n: c.max_per_user })));
      b.addEventListener("click", () => loadSchedules(c));
      list.append(b);
    }
  }

  async function loadSchedules(concert) {
    S.concert = concert;
    S.schedules = null;
    renderConcerts();
    renderSchedules();
    try {
      const r = await api("GET", "/api/v1/concerts/" + concert.id + "/schedules", { token: true });
      if (r.error) {
        if (!handleCommonError(r.error)) showError(errorFor(r.error.code, r.error.message));
        return;
      }
      clearMessages();
      S.schedules = r.data.schedules;
      renderSchedules();
      $("schedule-box").scrollIntoView({ behavior: "smooth", block: "nearest" });
    } catch (e) {
      showFailure(e);
    }
  }

  function renderSchedules() {
    const box = $("schedule-box");
    box.hidden = !S.concert;
    if (!S.concert) return;
    $("schedule-title").textContent = t("concerts.schedulesOf", { title: S.concert.title });
    const list = $("schedule-list");
    list.textContent = "";
    if (!S.schedules) return;
    // The server lists the dates still open for booking; a sold-out one
    // cannot be booked either, so only dates with a free seat get a button.
    const bookable = S.schedules.filter((s) => s.available_seats > 0);
    if (bookable.length === 0) {
      list.append(el("p", { class: "hint" }, t("concerts.noSchedules")));
      return;
    }
    for (const s of bookable) {
      const b = el("button", { type: "button", class: "schedule", "data-testid": "schedule", "data-schedule-id": s.id });
      b.append(el("span", { class: "when" }, dateTime(s.starts_at)));
      b.append(el("span", { class: "hint" }, t("concerts.seatsLeft", { n: num(s.available_seats) })));
      b.addEventListener("click", () =>
        openSchedule({ id: s.id, starts_at: s.starts_at, title: S.concert.title, concert_id: S.concert.id }));
      list.append(b);
    }
  }

  /* ---------------- the seat map ---------------- */

  const seatFeed = { es: null, poll: null, retry: null, scheduleId: null };

  function openSchedule(schedule) {
    stopSeatFeed();
    if (!S.schedule || S.schedule.id !== schedule.id) {
      S.seats = new Map();
      S.seatsEtag = null;
      S.seatsFromList = false;
      $("seatmap").textContent = "";
    }
    S.schedule = schedule;
    saved.set("schedule", schedule);
    show("seats");
    renderSeatmap();
    renderOrder();
    fetchSeatmap().then((ok) => {
      if (ok && S.view === "seats") startSeatFeed();
    });
    loadBalance();
  }

  function backToConcerts() {
    stopSeatFeed();
    S.schedule = null;
    saved.set("schedule", null);
    show("concerts");
    if (!S.concerts) loadConcerts();
    else renderConcerts();
    if (S.concert) loadSchedules(S.concert);
  }

  /* The whole map (GET .../seatmap), or, on a server without that route,
   * the free-seat list. Returns true when a map is shown. */
  async function fetchSeatmap(force) {
    const id = S.schedule.id;
    try {
      if (!S.seatsFromList) {
        const r = await api("GET", "/api/v1/schedules/" + id + "/seatmap", {
          token: true,
          etag: force ? null : S.seatsEtag,
        });
        if (!S.schedule || S.schedule.id !== id) return false;
        if (r.status === 304) return true;
        if (r.error && r.error.code === "NOT_FOUND") S.seatsFromList = true;
        else if (r.error) {
          if (!handleCommonError(r.error)) showError(errorFor(r.error.code, r.error.message));
          return false;
        } else {
          S.seatsEtag = r.etag;
          setSeatmap(r.data.seats);
          return true;
        }
      }
      const r = await api("GET", "/api/v1/schedules/" + id + "/seats", { token: true, etag: force ? null : S.seatsEtag });
      if (!S.schedule || S.schedule.id !== id) return false;
      if (r.status === 304) return true;
      if (r.error) {
        if (!handleCommonError(r.error)) showError(errorFor(r.error.code, r.error.message));
        return false;
      }
      S.seatsEtag = r.etag;
      setSeatmapFromFreeList(r.data.seats);
      return true;
    } catch (e) {
      showFailure(e);
      return false;
    }
  }

  function setSeatmap(seats) {
    const map = new Map();
    for (const s of seats) map.set(s.number, s);
    S.seats = map;
    renderSeatmap();
  }

  function mergeSeats(seats) {
    for (const s of seats) S.seats.set(s.number, s);
    renderSeatmap();
  }

  /* Only the free seats are known: the others are taken (held or sold,
   * which this list cannot tell apart) or mine. */
  function setSeatmapFromFreeList(free) {
    const map = new Map();
    let highest = 0;
    for (const s of free) {
      map.set(s.number, { number: s.number, grade: s.grade, price: s.price, status: "FREE" });
      highest = Math.max(highest, s.number);
    }
    for (const h of S.holds) if (h.schedule_id === S.schedule.id) highest = Math.max(highest, h.seat_number);
    for (const n of S.seats.keys()) highest = Math.max(highest, n);
    for (let n = 1; n <= highest; n++) {
      if (map.has(n)) continue;
      const old = S.seats.get(n);
      const mine = myHold(S.schedule.id, n);
      map.set(n, {
        number: n,
        grade: (old && old.grade) || (mine && mine.grade) || "",
        price: (old && old.price) || (mine && mine.price) || 0,
        status: mine ? "HELD" : "SOLD",
      });
    }
    S.seats = map;
    renderSeatmap();
  }

  function myHold(scheduleId, number) {
    return S.holds.find((h) => h.schedule_id === scheduleId && h.seat_number === number) || null;
  }

  function seatState(seat) {
    if (seat.status !== "SOLD" && S.schedule && myHold(S.schedule.id, seat.number)) return "mine";
    if (seat.status === "FREE") return "free";
    if (seat.status === "HELD") return "held";
    return "sold";
  }

  /* Grades in price order, most expensive first: g0, g1... pick colours. */
  function gradeClasses() {
    const prices = new Map();
    for (const s of S.seats.values()) {
      if (!s.grade) continue;
      prices.set(s.grade, Math.max(prices.get(s.grade) || 0, s.price || 0));
    }
    const order = [...prices.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const classes = new Map();
    order.forEach(([grade], i) => classes.set(grade, "g" + Math.min(i, 7)));
    return { classes, order };
  }

  function renderSeatmap() {
    const box = $("seatmap");
    if (!S.schedule) return;
    $("seats-title").textContent = S.schedule.title || "";
    $("seats-when").textContent = S.schedule.starts_at ? dateTime(S.schedule.starts_at) : "";
    box.setAttribute("aria-label", t("order.title"));
    const numbers = [...S.seats.keys()].sort((a, b) => a - b);
    const { classes, order } = gradeClasses();
    // Rebuild only when the set of seats changed; otherwise update in place
    // so that a live update never pulls a button from under a click.
    const existing = box.querySelectorAll("button.seat");
    let same = existing.length === numbers.length;
    if (same) existing.forEach((b, i) => { if (Number(b.dataset.seat) !== numbers[i]) same = false; });
    if (!same) {
      box.textContent = "";
      box.classList.toggle("small-hall", numbers.length <= 60);
      for (const n of numbers) {
        const b = el("button", { type: "button", class: "seat", "data-testid": "seat", "data-seat": n }, String(n));
        b.addEventListener("click", () => onSeatClick(n));
        box.append(b);
      }
    }
    for (const b of box.querySelectorAll("button.seat")) {
      const seat = S.seats.get(Number(b.dataset.seat));
      const state = seatState(seat);
      if (b.dataset.status !== state) b.dataset.status = state;
      if (b.dataset.grade !== seat.grade) b.dataset.grade = seat.grade;
      const gradeClass = classes.get(seat.grade) || "gx";
      b.className = "seat " + gradeClass + " " + state;
      // Taken seats stay clickable (not disabled, not aria-disabled): a
      // click says who has it, which a buyer racing for it needs to read.
      b.setAttribute("aria-label", t("seats.aria", {
        n: seat.number, grade: seat.grade, price: points(seat.price), state: t("seats." + state),
      }));
      b.title = b.getAttribute("aria-label");
    }
    const legend = $("legend");
    legend.textContent = "";
    for (const [grade, price] of order) {
      const li = el("li");
      li.append(el("span", { class: "swatch " + classes.get(grade), "aria-hidden": "true" }));
      li.append(document.createTextNode(t("seats.grade", { grade, price: points(price) })));
      legend.append(li);
    }
    for (const state of ["held", "mine", "sold"]) {
      const li = el("li");
      li.append(el("span", { class: "swatch " + state, "aria-hidden": "true" }));
      li.append(document.createTextNode(t("seats." + state)));
      legend.append(li);
    }
  }

  function onSeatClick(n) {
    const seat = S.seats.get(n);
    if (!seat) return;
    const state = seatState(seat);
    if (state === "free") hold(seat);
    else if (state === "mine") release(myHold(S.schedule.id, n));
    else showError({ key: "error.SEAT_TAKEN" });
  }

  function startSeatFeed() {
    const id = S.schedule.id;
    if (seatFeed.es || seatFeed.poll) return;
    seatFeed.scheduleId = id;
    if (!window.EventSource || S.seatsFromList) return startSeatPolling();
    const seatEvent = (apply) => (ev) => {
      if (ev.lastEventId) S.seatsEtag = ev.lastEventId;
      apply(JSON.parse(ev.data).seats);
    };
    openFeed(seatFeed, feedUrl("/api/v1/schedules/" + id + "/seats/events"), {
      events: { seatmap: seatEvent(setSeatmap), seats: seatEvent(mergeSeats) },
      stop: stopSeatFeed,
      startPolling: startSeatPolling,
      stopPolling: stopSeatPolling,
      stillWanted: () => S.view === "seats" && S.schedule && S.schedule.id === id,
      restart: startSeatFeed,
    });
  }

  function startSeatPolling() {
    if (seatFeed.poll) return;
    seatFeed.poll = setInterval(() => {
      if (S.view === "seats" && S.schedule) fetchSeatmap();
    }, POLL_SEATS_MS);
  }

  function stopSeatPolling() {
    if (seatFeed.poll) clearInterval(seatFeed.poll);
    seatFeed.poll = null;
  }

  function stopSeatFeed() {
    if (seatFeed.es) seatFeed.es.close();
    seatFeed.es = null;
    if (seatFeed.retry) clearTimeout(seatFeed.retry);
    seatFeed.retry = null;
    stopSeatPolling();
  }

  /* ---------------- holds ---------------- */

  function saveHolds() {
    saved.set("holds", S.holds);
  }

  /* The hold's end on this machine's clock: the server's held_until less the
   * server's Date, added to now, so a wrong local clock does not matter. */
  function localDeadline(heldUntil, serverDate) {
    const until = Date.parse(heldUntil);
    const server = serverDate ? Date.parse(serverDate) : NaN;
    if (isNaN(until)) return Date.now() + 300000;
    if (isNaN(server)) return until;
    // The Date header has whole seconds: never promise more time than
    // either clock gives.
    return Math.min(until, Date.now() + (until - server));
  }

  async function hold(seat) {
    const scheduleId = S.schedule.id;
    try {
      const r = await api("POST", "/api/v1/reservations", {
        token: true,
        body: { schedule_id: scheduleId, seat_number: seat.number },
      });
      if (r.error) {
        if (handleCommonError(r.error)) return;
        showError(errorFor(r.error.code, r.error.message));
        if (r.error.code === "SEAT_TAKEN" || r.error.code === "SEAT_NOT_FOUND") {
          const known = S.seats.get(seat.number);
          if (known && known.status === "FREE") known.status = "HELD"; // until the map says more
          renderSeatmap();
          fetchSeatmap(true);
        }
        return;
      }
      const res = r.data;
      S.holds = S.holds.filter((h) => h.id !== res.id);
      S.holds.push({
        id: res.id,
        schedule_id: res.schedule_id,
        seat_number: res.seat_number,
        grade: seat.grade,
        price: res.price,
        held_until: res.held_until,
        deadline: localDeadline(res.held_until, r.date),
        title: S.schedule.title,
      });
      saveHolds();
      const known = S.seats.get(seat.number);
      if (known) {
        known.status = "HELD";
        known.held_until = res.held_until;
      }
      showNotice("info.held", { n: res.seat_number });
      renderSeatmap();
      renderOrder();
    } catch (e) {
      showFailure(e);
    }
  }

  async function release(h) {
    if (!h) return;
    try {
      const r = await api("DELETE", "/api/v1/reservations/" + h.id, { token: true });
      if (r.error && r.error.code !== "RESERVATION_NOT_FOUND") {
        if (handleCommonError(r.error)) return;
        showError(errorFor(r.error.code, r.error.message));
        return;
      }
      dropHold(h.id);
      if (S.schedule && h.schedule_id === S.schedule.id) {
        const known = S.seats.get(h.seat_number);
        if (known && known.status === "HELD") known.status = "FREE";
      }
      showNotice("info.released", { n: h.seat_number });
      renderSeatmap();
      renderOrder();
    } catch (e) {
      showFailure(e);
    }
  }

  function dropHold(id) {
    S.holds = S.holds.filter((h) => h.id !== id);
    saveHolds();
  }

  /* After a payment refused a hold: keep only those the server still has
   * HELD for us. */
  async function checkHolds() {
    for (const h of [...S.holds]) {
      try {
        const r = await api("GET", "/api/v1/reservations/" + h.id, { token: true });
        if (r.error && handleCommonError(r.error)) return;
        if (r.error || r.data.status !== "HELD") dropHold(h.id);
      } catch (e) {
        return;
      }
    }
    renderSeatmap();
    renderOrder();
    if (S.schedule) fetchSeatmap(true);
  }

  function total() {
    return S.holds.reduce((sum, h) => sum + (h.price || 0), 0);
  }

  function renderOrder() {
    const list = $("holds");
    list.textContent = "";
    for (const h of [...S.holds].sort((a, b) => a.schedule_id - b.schedule_id || a.seat_number - b.seat_number)) {
      const li = el("li", { class: "hold", "data-reservation-id": h.id, "data-seat": h.seat_number });
      const what = el("span", { class: "what" }, t("order.hold", { n: h.seat_number, grade: h.grade, price: points(h.price) }));
      if (!S.schedule || h.schedule_id !== S.schedule.id)
        what.append(el("span", { class: "hint" }, " (" + (h.title ? h.title + ", " : "") + t("order.otherSchedule") + ")"));
      li.append(what);
      li.append(el("span", { class: "hold-countdown", "data-testid": "hold-countdown", "data-reservation-id": h.id }));
      const rel = el("button", { type: "button", class: "link release", "data-testid": "release" }, t("order.release"));
      rel.addEventListener("click", () => release(h));
      li.append(rel);
      list.append(li);
    }
    $("holds-empty").hidden = S.holds.length > 0;
    $("total").textContent = points(total());
    $("balance").textContent = S.balance === null ? "–" : points(S.balance);
    const pay = $("pay");
    pay.disabled = S.holds.length === 0 || S.paying;
    pay.textContent = S.paying ? t("order.paying")
      : S.holds.length ? t(S.holds.length === 1 ? "order.pay1" : "order.payN", { n: S.holds.length, total: points(total()) })
      : t("order.pay");
    renderCharge();
    renderHoldCountdowns();
    // Phones show the order panel below a long map: a bar keeps it in reach.
    $("mobile-bar").hidden = S.holds.length === 0;
    $("mobile-summary").textContent = t("order.summary", { n: S.holds.length, total: points(total()) });
  }

  function renderCharge() {
    const short = S.balance !== null && S.holds.length > 0 ? Math.max(0, total() - S.balance) : 0;
    const show = short > 0 || S.shortBy > 0;
    const box = $("charge-box");
    const wasHidden = box.hidden;
    box.hidden = !show;
    if (!show) return;
    const need = Math.max(short, S.shortBy);
    $("charge-why").textContent = t("charge.short", { n: points(need) });
    // Suggest the shortfall (rounded up to a thousand) until the buyer
    // types an amount of their own.
    const input = $("charge-amount");
    if (wasHidden || !input.value || !input.dataset.edited) {
      input.value = String(Math.ceil(need / 1000) * 1000);
      delete input.dataset.edited;
    }
  }

  function renderHoldCountdowns() {
    const now = Date.now();
    const expired = [];
    for (const node of document.querySelectorAll("[data-testid=hold-countdown]")) {
      const h = S.holds.find((x) => String(x.id) === node.dataset.reservationId);
      if (!h) continue;
      const left = (h.deadline - now) / 1000;
      if (left <= 0) expired.push(h);
      node.textContent = t("order.left", { t: clock(left) });
      node.classList.toggle("urgent", left < 60);
    }
    if (expired.length && !S.paying) {
      for (const h of expired) {
        dropHold(h.id);
        if (S.schedule && h.schedule_id === S.schedule.id) {
          const known = S.seats.get(h.seat_number);
          if (known && known.status === "HELD") known.status = "FREE";
        }
      }
      showNotice("info.holdExpired", { n: expired.map((h) => h.seat_number).join(", ") });
      renderSeatmap();
      renderOrder();
      if (S.schedule) fetchSeatmap(true);
    }
  }

  /* ---------------- points and payment ---------------- */

  async function loadBalance() {
    if (!S.userId) return;
    try {
      const r = await api("GET", "/api/v1/users/" + S.userId + "/points");
      if (r.error) {
        if (!handleCommonError(r.error)) showError(errorFor(r.error.code, r.error.message));
        return;
      }
      S.balance = r.data.balance;
      renderOrder();
    } catch (e) {
      showFailure(e);
    }
  }

  async function charge() {
    const text = $("charge-amount").value.trim();
    if (!/^[0-9]{1,15}$/.test(text) || Number(text) < 1) {
      showError({ key: "error.chargeAmount" });
      return;
    }
    const amount = Number(text);
    // The same key for a retry of the same amount after no answer; a new
    // one for anything the server has answered.
    if (!S.pendingCharge || S.pendingCharge.amount !== amount) S.pendingCharge = { amount, key: newKey() };
    saved.set("pendingCharge", S.pendingCharge);
    const button = $("charge");
    button.disabled = true;
    try {
      const r = await api("POST", "/api/v1/users/" + S.userId + "/points/charge", {
        body: { amount },
        key: S.pendingCharge.key,
      });
      if (r.status < 500) {
        S.pendingCharge = null;
        saved.set("pendingCharge", null);
      }
      if (r.error) {
        if (!handleCommonError(r.error)) showError(errorFor(r.error.code, r.error.message));
        return;
      }
      S.balance = r.data.balance;
      S.shortBy = 0;
      $("charge-amount").value = "";
      showNotice("charge.done", { n: points(amount) });
      renderOrder();
    } catch (e) {
      showFailure(e);
    } finally {
      button.disabled = false;
    }
  }

  async function pay() {
    if (S.holds.length === 0 || S.paying) return;
    const ids = S.holds.map((h) => h.id).sort((a, b) => a - b);
    const same = S.pendingPay && S.pendingPay.ids.join(",") === ids.join(",");
    if (!same) S.pendingPay = { ids, key: newKey() };
    saved.set("pendingPay", S.pendingPay);
    S.paying = true;
    renderOrder();
    try {
      const r = await api("POST", "/api/v1/payments", {
        token: true,
        body: { reservation_ids: ids },
        key: S.pendingPay.key,
      });
      if (r.status < 500) {
        S.pendingPay = null;
        saved.set("pendingPay", null);
      }
      if (r.error) {
        S.paying = false;
        if (handleCommonError(r.error)) return;
        showError(errorFor(r.error.code, r.error.message));
        if (r.error.code === "INSUFFICIENT_POINTS") {
          await loadBalance();
          S.shortBy = S.balance !== null ? Math.max(0, total() - S.balance) : 0;
          renderOrder();
        } else if (["HOLD_EXPIRED", "RESERVATION_NOT_FOUND", "ALREADY_PAID", "FORBIDDEN"].includes(r.error.code)) {
          await checkHolds();
        }
        renderOrder();
        return;
      }
      const paid = S.holds.filter((h) => ids.includes(h.id));
      S.confirmation = { payment: r.data, holds: paid };
      S.holds = S.holds.filter((h) => !ids.includes(h.id));
      saveHolds();
      S.balance = r.data.balance;
      S.paying = false;
      S.shortBy = 0;
      // The payment ended the queue token: booking more means queueing again.
      forgetToken();
      S.schedule = null;
      saved.set("schedule", null);
      clearMessages();
      show("confirmation");
      renderConfirmation();
    } catch (e) {
      S.paying = false;
      renderOrder();
      showFailure(e);
    }
  }

  function renderConfirmation() {
    const c = S.confirmation;
    if (!c) return;
    $("confirm-text").textContent = t("confirm.text");
    const list = $("confirm-seats");
    list.textContent = "";
    for (const h of c.holds) {
      const li = el("li", null, (h.title ? h.title + " · " : "") + t("order.hold", { n: h.seat_number, grade: h.grade, price: points(h.price) }));
      list.append(li);
    }
    $("confirm-amount").textContent = points(c.payment.amount);
    $("confirm-balance").textContent = points(c.payment.balance);
    $("confirm-id").textContent = String(c.payment.id);
  }

  /* ---------------- start ---------------- */

  /* The operator's login redirects to /#jwt=<token>: keep it for this tab,
   * and take it out of the address bar (and the history) at once. */
  function takeJwtFromUrl() {
    const m = /(?:^#|&)jwt=([^&]+)/.exec(location.hash);
    if (!m) return;
    S.jwt = decodeURIComponent(m[1]);
    saved.set("jwt", S.jwt);
    history.replaceState(null, "", location.pathname + location.search);
    forgetToken();
  }

  async function resume() {
    // A tab that has a token carries on where it was.
    if (S.token) {
      try {
        const r = await api("GET", "/api/v1/queue/tokens/current", { token: true });
        if (!r.error) {
          onTokenDoc(r.data);
          return;
        }
        if (r.error.code === "TOKEN_INVALID") forgetToken();
        else if (handleCommonError(r.error)) return;
      } catch (e) {
        showFailure(e);
      }
    }
    showJoin();
  }

  async function start() {
    setLang(preferredLang());
    $("lang").addEventListener("change", (ev) => {
      localStorage.setItem("concert.lang", ev.target.value);
      setLang(ev.target.value);
    });
    $("signin-form").addEventListener("submit", onSignin);
    $("leave").addEventListener("click", leaveQueue);
    $("signout").addEventListener("click", signOut);
    $("back-to-concerts").addEventListener("click", backToConcerts);
    $("pay").addEventListener("click", pay);
    $("charge").addEventListener("click", charge);
    $("to-order").addEventListener("click", () => $("order").scrollIntoView({ behavior: "smooth", block: "start" }));
    $("charge-amount").addEventListener("input", (ev) => { ev.target.dataset.edited = "1"; });
    $("again").addEventListener("click", () => {
      S.confirmation = null;
      join(S.userId);
    });
    setInterval(() => {
      if (S.view === "waiting") renderCountdown();
      if (S.holds.length) renderHoldCountdowns();
    }, 1000);

    // A new sign-in while the page is open (the login opened in this tab
    // again): start over with it.
    window.addEventListener("hashchange", () => {
      if (/(?:^#|&)jwt=/.test(location.hash)) {
        takeJwtFromUrl();
        location.reload();
      }
    });
    takeJwtFromUrl();
    let r;
    try {
      r = await api("GET", "/api/v1/session");
    } catch (e) {
      showFailure(e);
      return;
    }
    if (r.error) {
      // An identity that no longer verifies: forget it and say so.
      S.auth = "jwt";
      if (r.error.code === "AUTH_INVALID") {
        S.jwt = null;
        saved.set("jwt", null);
        forgetToken();
        r = await api("GET", "/api/v1/session").catch(() => null);
      }
      showError(errorFor("AUTH_INVALID"));
      if (!r || r.error) {
        showJoin();
        return;
      }
    }
    S.auth = r.data.auth;
    if (S.auth !== "none") {
      if (S.userId !== r.data.user_id) {
        forgetToken();
        S.holds = [];
        saveHolds();
      }
      S.userId = r.data.user_id;
      saved.set("user", S.userId);
      if (!S.userId && !S.error) showError({ key: S.auth === "jwt" ? "error.jwtMissing" : "error.AUTH_REQUIRED" });
    }
    renderAll();
    if (S.userId) await resume();
    else showJoin();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
