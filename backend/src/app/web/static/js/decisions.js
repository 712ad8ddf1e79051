// Decisions feed: each decision with its model, the rationale per asset, what the risk engine
// changed and why, the orders it led to, the LLM cost and latency; the prompt and the raw
// reply one click away. Cards come from the REST API; the stream says when one is new (or
// changed: its orders fill after it is recorded).

import { ApiError, coalesce, turns } from "./api.js";
import { dec, decimalSum, el, time } from "./format.js";

const SHOWN = 50; // live cards kept; each older page asked for adds its own
const PAGE = 20;

export function mountDecisions(ctx) {
  const feed = document.querySelector("#decision-feed");
  const older = document.querySelector("#decisions-older");
  let keep = SHOWN;
  let nextCursor = null;
  const cards = new Map(); // decision id -> {at, element}
  const due = new Set();
  let unsubscribe = [];
  const accountTurns = turns(); // answers for the account shown before are dropped

  const leg = (item) =>
    el(
      "li",
      { class: `leg status-${item.status}`, dataset: { symbol: item.symbol } },
      el("b", {}, item.symbol),
      " ",
      el("span", { class: "badge" }, item.action),
      " → ",
      el("span", { class: `badge status-${item.status}` }, item.status),
      item.requested?.confidence ? ` (confidence ${item.requested.confidence})` : "",
      el("div", { class: "rationale" }, item.requested?.rationale || "–"),
      item.requested?.invalidation
        ? el("div", { class: "muted" }, "invalid if ", el("code", {}, item.requested.invalidation))
        : null,
      item.adjustments.length
        ? el(
            "ul",
            { class: "adjustments" },
            item.adjustments.map((a) =>
              el(
                "li",
                {},
                el("code", {}, a.rule),
                a.field ? ` ${a.field}: ${dec(a.requested)} → ${dec(a.approved)}` : "",
                ` (${a.reason})`,
              ),
            ),
          )
        : null,
      item.orders.length
        ? el(
            "ul",
            { class: "orders" },
            item.orders.map((o) =>
              el(
                "li",
                { class: "mono" },
                `${o.purpose ?? o.type} ${o.side} ${o.close_position ? "whole position" : o.quantity}`,
                o.stop_price ? ` stop ${o.stop_price}` : "",
                ` ${o.status}`,
                o.average_price ? ` @ ${o.average_price}` : "",
              ),
            ),
          )
        : null,
    );

  const callsOf = (detail) => {
    if (!detail.calls.length) return el("p", { class: "muted" }, "no model call (rules)");
    const cost = decimalSum(detail.calls.map((c) => c.cost_usd)); // exact, as the API's strings
    const latency = detail.calls.reduce((sum, c) => sum + (c.latency_ms ?? 0), 0);
    return el(
      "div",
      { class: "calls" },
      el(
        "p",
        {},
        `${detail.calls.length} call(s), `,
        detail.calls.some((c) => c.cost_usd !== null) ? `${cost} USD` : "cost unknown",
        `, ${latency} ms`,
        detail.calls.some((c) => c.cache_hit) ? " (from the reply cache)" : "",
      ),
      el(
        "details",
        { class: "raw" },
        el("summary", {}, "Prompt and raw reply"),
        detail.calls.map((c) =>
          el(
            "div",
            {},
            el("h4", {}, `${c.model} · attempt ${c.attempt} · ${c.status}`),
            el("pre", { class: "prompt" }, c.prompt),
            el("pre", { class: "reply" }, c.raw_reply ?? c.error ?? "–"),
          ),
        ),
      ),
    );
  };

  const card = (detail) =>
    el(
      "li",
      { class: "decision", dataset: { id: detail.id } },
      el(
        "header",
        {},
        time(detail.created_at),
        " ",
        el("b", {}, detail.model),
        ` (${detail.provider}) `,
        el("span", { class: `badge status-${detail.status}` }, detail.status),
      ),
      el("p", {}, detail.summary ?? detail.validation_error ?? "–"),
      el("ul", { class: "legs" }, detail.legs.map(leg)),
      callsOf(detail),
    );

  const place = (detail) => {
    const element = card(detail);
    const known = cards.get(detail.id);
    if (known) {
      const open = known.element.querySelector("details")?.open;
      if (open) element.querySelector("details").open = true;
      known.element.replaceWith(element);
      known.element = element;
      return;
    }
    // Newest first, whatever order the cards arrive in (older pages, late fetches).
    element.dataset.at = detail.created_at;
    const older = [...feed.children].find((child) => child.dataset.at < detail.created_at);
    feed.insertBefore(element, older ?? null);
    cards.set(detail.id, { at: detail.created_at, element });
    const ordered = [...cards.entries()].sort((a, b) => (a[1].at < b[1].at ? 1 : -1));
    for (const [id, old] of ordered.slice(keep)) {
      old.element.remove();
      cards.delete(id);
    }
  };

  const fetchDue = coalesce(async () => {
    const ids = [...due];
    due.clear();
    const account = encodeURIComponent(ctx.account.id);
    const current = accountTurns.ask();
    for (const id of ids) {
      if (!current()) return; // another account's feed now: its ids are not asked here
      try {
        const detail = await ctx.api(`/accounts/${account}/decisions/${id}`);
        if (current()) place(detail);
      } catch (error) {
        if (!current()) return;
        // A decision the stream announced is never left out of the feed because the
        // connection dropped: it is fetched again with the next event or the reconnect.
        if (error instanceof ApiError) ctx.notice(`Decision ${id}: ${error.message}`);
        else due.add(id); // the network: kept for the next attempt
      }
    }
  }, 250);

  const load = async (cursor = null) => {
    const account = encodeURIComponent(ctx.account.id);
    const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const current = accountTurns.ask();
    try {
      const page = await ctx.api(`/accounts/${account}/decisions?limit=${PAGE}${after}`);
      if (!current()) return;
      for (const item of page.items) due.add(item.id);
      if (cursor || nextCursor === null) nextCursor = page.next_cursor;
      older.hidden = !nextCursor;
      fetchDue();
    } catch (error) {
      ctx.notice(`Decisions: ${error.message}`);
    }
  };
  older.addEventListener("click", () => {
    keep += PAGE; // the older page stays shown beside the live ones
    load(nextCursor);
  });

  let snapshots = 0;
  const onDecision = (message) => {
    if (message.type === "snapshot") {
      // A snapshot after the first (a resync, or a gap's fresh subscription) holds only the
      // newest five: the newest page is read again so nothing missed stays out.
      snapshots += 1;
      if (message.resync || snapshots > 1) load();
      for (const item of message.data ?? []) if (!cards.has(item.id)) due.add(item.id);
    } else if (message.data?.decision_id) {
      due.add(message.data.decision_id);
    }
    fetchDue();
  };

  return {
    account(account) {
      for (const stop of unsubscribe) stop();
      accountTurns.next();
      feed.replaceChildren();
      cards.clear();
      due.clear();
      keep = SHOWN;
      nextCursor = null;
      snapshots = 0;
      unsubscribe = [ctx.stream.subscribe(`account.${account.id}.decisions`, onDecision)];
      load();
    },
    reconnected() {
      fetchDue(); // what failed while the connection was down
      load();
    },
  };
}
