// The dashboard's entry: login with a pasted token, then the pages, all fed by the REST API
// (initial and paged data) and the live stream (everything after).

import { api, ApiError, onUnauthorized, token } from "./api.js";
import { Stream } from "./stream.js";
import { mountOverview } from "./overview.js";
import { mountMarket } from "./market.js";
import { mountPositions } from "./positions.js";
import { mountDecisions } from "./decisions.js";
import { mountPerformance } from "./performance.js";
import { mountBacktests } from "./backtests.js";

const $ = (selector) => document.querySelector(selector);
const WHY_KEY = "trading-agent.login-reason"; // why the login is asked again, across a reload
const PAGES = ["overview", "market", "positions", "decisions", "performance", "backtests"];

/** Asks the trader to confirm an action; resolves {ok, flatten}. */
function confirmAction(text, { flatten = false } = {}) {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  $("#confirm-flatten-label").hidden = !flatten;
  $("#confirm-flatten").checked = false;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => resolve({ ok: dialog.returnValue === "ok", flatten: $("#confirm-flatten").checked }),
      { once: true },
    );
  });
}

function notice(text) {
  const banner = $("#notice");
  banner.textContent = text || "";
  banner.hidden = !text;
}

function showLogin(message = "") {
  $("#app").hidden = true;
  $("#logout").hidden = true;
  $(".account-pick").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message;
  $("#token-input").focus();
}

async function check(value) {
  try {
    return await api("/status", { tokenValue: value });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      throw new Error("This token is not accepted by this service: paste API_TOKEN or API_READ_TOKEN.");
    }
    if (error instanceof ApiError) throw new Error(`The service refused: ${error.message}`);
    throw new Error("The service does not answer: is it running?");
  }
}

async function start(status) {
  started = true;
  const access = status.access === "full" ? "full" : "read";
  document.body.dataset.access = access;
  $("#access").textContent = access === "full" ? "full control" : "read only";
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#logout").hidden = false;
  for (const element of document.querySelectorAll("[data-full-only]")) {
    element.hidden = access !== "full";
  }

  const accounts = await api("/accounts");
  const select = $("#account");
  select.replaceChildren(
    ...accounts.map((account) => new Option(`${account.id} (${account.trading_mode})`, account.id)),
  );
  $(".account-pick").hidden = accounts.length < 2;

  const stream = new Stream(
    () => token.get(),
    (state) => {
      const badge = $("#stream");
      badge.dataset.state = state;
      badge.textContent = state;
      Object.assign(badge.dataset, stream.stats);
      document.body.classList.toggle("stale", state !== "live");
      $("#reconnecting").hidden = state !== "reconnecting";
      if (state === "denied") refused();
      if (state === "live") for (const view of views) view.reconnected?.();
    },
  );
  const ctx = {
    api,
    stream,
    access,
    status,
    accounts,
    account: accounts[0],
    confirm: confirmAction,
    notice,
  };
  const views = [
    mountOverview(ctx),
    mountMarket(ctx),
    mountPositions(ctx),
    mountDecisions(ctx),
    mountPerformance(ctx),
    mountBacktests(ctx),
  ];
  const byPage = Object.fromEntries(PAGES.map((page, index) => [page, views[index]]));

  const route = () => {
    const page = PAGES.includes(location.hash.slice(1)) ? location.hash.slice(1) : "overview";
    for (const section of document.querySelectorAll(".page")) {
      section.hidden = section.dataset.page !== page;
    }
    for (const link of document.querySelectorAll(".tabs a")) {
      link.classList.toggle("active", link.dataset.page === page);
    }
    for (const [name, view] of Object.entries(byPage)) if (name !== page) view.hide?.();
    byPage[page].show?.();
  };
  const selectAccount = () => {
    ctx.account = accounts.find((account) => account.id === select.value) ?? accounts[0];
    for (const view of views) view.account?.(ctx.account);
    route();
  };
  select.addEventListener("change", selectAccount);
  window.addEventListener("hashchange", route);
  stream.start();
  selectAccount();
}

let started = false;

/**
 * A token refused mid-session (changed on the server): every page and the stream stop with
 * a fresh page load, which asks for the current token and says why.
 */
function refused() {
  token.clear();
  sessionStorage.setItem(WHY_KEY, "This token is no longer accepted: paste the current one.");
  location.reload();
}

async function boot() {
  onUnauthorized(refused);
  $("#logout").addEventListener("click", () => {
    token.clear();
    location.reload();
  });
  $("#login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = $("#token-input").value.trim();
    $("#login-error").textContent = "";
    try {
      const status = await check(value);
      token.set(value);
      if (started) {
        location.reload(); // the pages exist: rebuilt once, for the new token
        return;
      }
      $("#token-input").value = "";
      await start(status);
    } catch (error) {
      showLogin(error.message);
    }
  });
  const saved = token.get();
  if (!saved) {
    showLogin(sessionStorage.getItem(WHY_KEY) ?? "");
    sessionStorage.removeItem(WHY_KEY);
    return;
  }
  try {
    await start(await check(saved));
  } catch (error) {
    token.clear();
    showLogin(error.message);
  }
}

window.addEventListener("load", boot); // after plotly.js (deferred) has run
