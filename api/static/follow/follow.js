// Following a request: the status page (/?m=ID&key=KEY) and "My requests" (/my) share this.
"use strict";

const T = {
  ru: {
    new_request: "Новое обращение", my_requests: "Мои обращения", loading: "Загружаем…",
    signin_lead: "Введите рабочую почту — пришлём ссылку для входа. Пароль не нужен.",
    email: "Рабочая почта", send_link: "Прислать ссылку",
    signin_done: "Если этот адрес нам знаком, письмо со ссылкой уже в пути. Ссылка действует 15 минут.",
    link_expired: "Ссылка для входа недействительна или уже использована. Запросите новую.",
    sign_out: "Выйти", empty: "Обращений пока нет.", number: "Номер", subject: "Тема",
    status: "Статус", due: "Срок", channel: "Канал", service: "Услуга", team: "Команда",
    back: "← Все мои обращения", rate: "Оцените, как мы решили ваш вопрос:",
    rated: "Ваша оценка: {n} из 5. Спасибо!", conversation: "Переписка", reply: "Ваш ответ",
    reply_reopen: "Ответ откроет обращение снова", files: "Файлы", send: "Отправить", reply_done: "Ответ отправлен.",
    you: "Вы", staff: "Сервисный центр", okno: "Окно", status_to: "Статус: {s}", team_to: "Передано команде: {s}",
    queued: "Обращение принято, регистрируем…", failed: "Не удалось обработать обращение: {e}",
    not_found: "Обращение не найдено. Проверьте ссылку.", error: "Не удалось загрузить: {e}",
    live: "Обновляется автоматически", stopped: "Обращение закрыто.", none: "—", triage: "определяем",
    ch_webform: "портал", ch_email: "e-mail", ch_telegram: "Telegram", ch_phone: "телефон",
    attachments: "Вложения: {a}",
    cancel: "Отменить обращение", cancel_ask: "Отменить обращение {n}?",
    cancel_process: "Это процесс из нескольких этапов: все его открытые и запланированные этапы ({k}) будут остановлены.",
    cancel_reason: "Причина (необязательно)", cancel_yes: "Да, отменить", cancel_no: "Не отменять",
    cancel_done: "Обращение отменено.", steps: "Этапы", stage: "этап {n}",
  },
  en: {
    new_request: "New request", my_requests: "My requests", loading: "Loading…",
    signin_lead: "Enter your work e-mail and we will send you a sign-in link. No password needed.",
    email: "Work e-mail", send_link: "Send me a link",
    signin_done: "If we know this address, a mail with the link is on its way. The link works for 15 minutes.",
    link_expired: "This sign-in link is not valid or was already used. Ask for a new one.",
    sign_out: "Sign out", empty: "No requests yet.", number: "Number", subject: "Subject",
    status: "Status", due: "Due", channel: "Channel", service: "Service", team: "Team",
    back: "← All my requests", rate: "Rate how we solved it:",
    rated: "Your rating: {n} out of 5. Thank you!", conversation: "Conversation", reply: "Your reply",
    reply_reopen: "A reply reopens the request", files: "Files", send: "Send", reply_done: "Reply sent.",
    you: "You", staff: "Service centre", okno: "Okno", status_to: "Status: {s}", team_to: "Now with the team: {s}",
    queued: "Request received, registering…", failed: "Could not process the request: {e}",
    not_found: "Request not found. Check the link.", error: "Could not load: {e}",
    live: "Updates live", stopped: "The request is closed.", none: "—", triage: "being routed",
    ch_webform: "portal", ch_email: "e-mail", ch_telegram: "Telegram", ch_phone: "phone",
    attachments: "Attachments: {a}",
    cancel: "Cancel request", cancel_ask: "Cancel request {n}?",
    cancel_process: "This is a process of several steps: all its open and planned steps ({k}) will be stopped.",
    cancel_reason: "Reason (optional)", cancel_yes: "Yes, cancel it", cancel_no: "Keep it",
    cancel_done: "The request is cancelled.", steps: "Steps", stage: "stage {n}",
  },
};

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const statusMode = location.pathname === "/" && params.get("m") && params.get("key");
let lang = localStorage.getItem("okno_lang") || ((navigator.language || "ru").startsWith("en") ? "en" : "ru");
let chosenLang = !!localStorage.getItem("okno_lang");
let csrf = "";
let current = null;   // the ticket view on screen
let timer = null;
let delay = 2000;
let source = null;    // {get, reply, cancel}: the endpoints of the open ticket

function t(key, values) {
  let text = (T[lang] && T[lang][key]) || T.ru[key] || key;
  for (const [k, v] of Object.entries(values || {})) text = text.replace("{" + k + "}", v);
  return text;
}

function applyLang() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  document.querySelectorAll(".lang button").forEach((b) => b.classList.toggle("on", b.dataset.lang === lang));
  if (current) render(current);
  if (lastList) renderList(lastList);
}

function when(iso) {
  if (!iso) return t("none");
  const d = new Date(iso);
  return d.toLocaleString(lang === "ru" ? "ru-RU" : "en-GB", { dateStyle: "medium", timeStyle: "short" });
}

function named(obj) { return obj ? obj[lang] || obj.ru : t("triage"); }

function show(id) {
  for (const s of ["loading", "signin", "list", "ticket"]) $(s).hidden = s !== id;
}

function problem(text) { const p = $("problem"); p.textContent = text; p.hidden = !text; }

async function api(url, options) {
  const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
  if (opts.body && !(opts.body instanceof FormData)) opts.headers["Content-Type"] = "application/json";
  if (csrf) opts.headers["X-CSRF-Token"] = csrf;
  const res = await fetch(url, opts);
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  return { status: res.status, data };
}

function detail(res) {
  const d = res.data && res.data.detail;
  return typeof d === "string" ? d : String(res.status);
}

// --- one ticket --------------------------------------------------------------------------

function render(v) {
  current = v;
  if (!chosenLang && v.language) { lang = v.language; chosenLang = true; applyLang(); return; }
  show("ticket");
  if (!v.number) {   // the status link's message has no ticket yet
    $("t-number").textContent = "";
    $("t-subject").textContent = "";
    $("t-facts").hidden = true;
    const p = $("t-pending");
    p.hidden = false;
    p.textContent = v.message_status === "queued" ? t("queued") : t("failed", { e: v.error || v.message_status });
    $("reply").hidden = true;
    $("cancel-box").hidden = true;
    $("steps-box").hidden = true;
    return;
  }
  $("t-pending").hidden = true;
  $("t-facts").hidden = false;
  $("t-number").textContent = v.number;
  $("t-subject").textContent = v.subject || "";
  document.title = v.number + " — Okno";
  $("t-status").textContent = v.status_name[lang];
  $("t-service").textContent = named(v.service);
  $("t-team").textContent = named(v.team);
  $("t-due").textContent = v.status === "resolved" || v.status === "closed" ? t("none") : when(v.due_at);
  $("t-channel").textContent = t("ch_" + v.channel);
  const list = $("conversation");
  list.replaceChildren();
  for (const e of v.entries) {
    const li = document.createElement("li");
    const meta = document.createElement("span");
    meta.className = "meta";
    if (e.kind === "team") {
      li.className = "status";
      li.textContent = when(e.at) + " · " + t("team_to", { s: named(e.team) });
    } else if (e.kind === "status") {
      li.className = "status";
      li.textContent = when(e.at) + " · " + t("status_to", { s: e.status_name[lang] });
    } else {
      li.className = e.kind === "notice" ? "notice" : e.who;
      const who = e.who === "requester" ? t("you") : e.who === "staff" ? (e.author || t("staff")) : t("okno");
      meta.textContent = who + " · " + when(e.at);
      li.append(meta, document.createTextNode(e.text));
      if (e.attachments && e.attachments.length) {
        const a = document.createElement("span");
        a.className = "meta";
        a.textContent = t("attachments", { a: e.attachments.map((x) => x.name).join(", ") });
        li.append(a);
      }
    }
    list.append(li);
  }
  const rating = $("rating");
  rating.hidden = !(v.rating_urls || v.rating);
  $("rating-ask").hidden = !v.rating_urls;
  const links = $("rating-links");
  links.replaceChildren();
  if (v.rating_urls) {
    for (const n of ["1", "2", "3", "4", "5"]) {
      const a = document.createElement("a");
      a.href = v.rating_urls[n];
      a.textContent = n;
      a.dataset.n = n;
      a.className = "rate";
      links.append(a);
    }
  }
  $("rating-given").hidden = !v.rating;
  $("rating-given").textContent = v.rating ? t("rated", { n: v.rating }) : "";
  $("reply").hidden = !v.can_reply;
  renderCancel(v);
  renderSteps(v.steps || []);
  $("reply-label").textContent = v.status === "resolved" || v.status === "closed" ? t("reply_reopen") : t("reply");
  $("live").textContent = v.final ? t("stopped") : t("live");
}

const FINISHED = ["resolved", "closed"];

function renderCancel(v) {
  // The button shows while the request may be cancelled; an open confirm survives a re-draw.
  $("cancel-box").hidden = !v.can_cancel;
  if (!v.can_cancel) $("cancel-form").hidden = true;
  $("cancel").hidden = !$("cancel-form").hidden;
  $("cancel-ask").textContent = t("cancel_ask", { n: v.number });
  const left = (v.steps || []).filter((s) => !FINISHED.includes(s.status)).length;
  $("cancel-process").hidden = !left;
  $("cancel-process").textContent = t("cancel_process", { k: left });
}

function renderSteps(steps) {
  $("steps-box").hidden = !steps.length;
  const list = $("steps");
  list.replaceChildren();
  for (const s of steps) {
    const li = document.createElement("li");
    li.className = s.status;
    li.dataset.number = s.number;
    const status = document.createElement("span");
    status.className = "step-status";
    status.textContent = " — " + s.status_name[lang];
    const what = s.service ? named(s.service) : s.subject;
    li.append(document.createTextNode(
      s.number + " · " + what + " · " + named(s.team) + " (" + t("stage", { n: (s.stage || 0) + 1 }) + ")"), status);
    list.append(li);
  }
}

function schedule(ms) {
  clearTimeout(timer);
  timer = setTimeout(poll, ms);
}

async function poll() {
  if (!source) return;
  const asked = source;
  let res;
  try { res = await api(asked.get); } catch (e) { schedule(Math.min(delay *= 2, 30000)); return; }
  if (source !== asked) return;   // another ticket was opened meanwhile
  if (res.status === 404) { show("ticket"); problem(t("not_found")); $("t-facts").hidden = true; return; }
  if (res.status === 401) { signedOut(); return; }
  if (res.status !== 200) { schedule(Math.min(delay *= 2, 30000)); return; }
  problem("");
  const v = res.data;
  if (!current || current.version !== v.version) { render(v); delay = 2000; }
  else delay = Math.min(delay * 1.5, 15000);   // back off while nothing changes
  if (!v.final) schedule(delay);               // a closed request says nothing more
}

function open(get, reply, cancel) {
  $("cancel-form").hidden = true;
  $("cancel-done").hidden = true;
  source = { get, reply, cancel };
  current = null;
  delay = 2000;
  poll();
}

$("reply").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("reply-text").value.trim();
  if (!text || !source) return;
  $("reply-send").disabled = true;
  const sid = "r-" + Date.now() + "-" + Math.random().toString(36).slice(2, 10);
  const chosen = $("reply-files").files;
  const ids = [];
  for (const f of chosen) {   // each file first, as the new-request form does; the reply names them
    const form = new FormData();
    form.append("file", f);
    const up = await api("/api/v1/intake/uploads", { method: "POST", body: form });
    if (up.status !== 201) {
      $("reply-send").disabled = false;
      problem(t("error", { e: f.name + ": " + detail(up) }));
      return;
    }
    ids.push(up.data.id);
  }
  const res = await api(source.reply, {
    method: "POST", body: JSON.stringify({ text, submission_id: sid, attachments: ids }),
  });
  $("reply-send").disabled = false;
  if (res.status === 202) {
    $("reply-text").value = "";
    $("reply-files").value = "";
    $("reply-done").hidden = false;
    setTimeout(() => { $("reply-done").hidden = true; }, 4000);
    delay = 1000;
    schedule(700);   // the intake job threads it: look again soon
  } else {
    problem(t("error", { e: detail(res) }));
  }
});

$("cancel").addEventListener("click", () => {
  $("cancel-form").hidden = false;
  $("cancel").hidden = true;
  $("cancel-reason").focus();
});

$("cancel-no").addEventListener("click", () => {
  $("cancel-form").hidden = true;
  $("cancel").hidden = false;
});

$("cancel-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!source) return;
  const reason = $("cancel-reason").value.trim();
  $("cancel-yes").disabled = true;
  const res = await api(source.cancel, { method: "POST", body: JSON.stringify(reason ? { reason } : {}) });
  $("cancel-yes").disabled = false;
  if (res.status === 200) {
    $("cancel-reason").value = "";
    $("cancel-form").hidden = true;
    $("cancel-done").hidden = false;
    problem("");
  } else {
    problem(t("error", { e: detail(res) }));
  }
  delay = 1000;
  schedule(0);   // the request is closed (or was already): show it as it is now
});

// --- My requests -------------------------------------------------------------------------

let lastList = null;

function renderList(rows) {
  lastList = rows;
  const body = $("tickets").querySelector("tbody");
  body.replaceChildren();
  $("empty").hidden = rows.length > 0;
  $("tickets").hidden = rows.length === 0;
  for (const r of rows) {
    const tr = document.createElement("tr");
    const a = document.createElement("a");
    a.href = "#" + r.number;
    a.textContent = r.number;
    a.className = "ticket-link";
    const about = document.createElement("span");
    const service = document.createElement("small");
    service.textContent = named(r.service) + " · " + named(r.team);
    about.append(document.createTextNode(r.subject), document.createElement("br"), service);
    const cells = [a, about, r.status_name[lang],
      r.status === "resolved" || r.status === "closed" ? t("none") : when(r.due_at), t("ch_" + r.channel)];
    for (const c of cells) {
      const td = document.createElement("td");
      if (typeof c === "string") td.textContent = c; else td.append(c);
      tr.append(td);
    }
    body.append(tr);
  }
}

function signedOut() {
  csrf = "";
  show("signin");
  if (params.get("link") === "expired") problem(t("link_expired"));
}

async function route() {
  clearTimeout(timer);
  source = null;
  current = null;
  const number = decodeURIComponent(location.hash.slice(1));
  if (number) {
    $("back").hidden = false;
    const base = "/api/v1/portal/tickets/" + encodeURIComponent(number);
    open(base, base + "/replies", base + "/cancel");
    return;
  }
  const res = await api("/api/v1/portal/tickets");
  if (res.status === 401) { signedOut(); return; }
  show("list");
  renderList(res.data.tickets);
}

async function startMy() {
  const me = await api("/api/v1/portal/me");
  if (me.status !== 200) { signedOut(); return; }
  csrf = me.data.csrf;
  $("me").textContent = me.data.email;
  if (!chosenLang) { lang = me.data.language; chosenLang = true; applyLang(); }
  window.addEventListener("hashchange", route);
  route();
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const email = $("signin-email").value.trim();
  const res = await api("/api/v1/portal/sign-in", { method: "POST", body: JSON.stringify({ email }) });
  if (res.status === 202) { $("signin-done").hidden = false; problem(""); }
  else problem(t("error", { e: detail(res) }));
});

$("signout").addEventListener("click", async () => {
  await api("/api/v1/portal/sign-out", { method: "POST" });
  location.href = "/my";
});

document.querySelectorAll(".lang button").forEach((b) => b.addEventListener("click", () => {
  lang = b.dataset.lang;
  chosenLang = true;
  localStorage.setItem("okno_lang", lang);
  applyLang();
}));

// A tab that comes back asks at once instead of waiting for its back-off.
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && source && !(current && current.final)) { delay = 2000; schedule(0); }
});

applyLang();
if (statusMode) {
  const m = encodeURIComponent(params.get("m"));
  const key = encodeURIComponent(params.get("key"));
  const base = "/api/v1/messages/" + m;
  open(base + "/conversation?key=" + key, base + "/replies?key=" + key, base + "/cancel?key=" + key);
} else {
  startMy();
}
