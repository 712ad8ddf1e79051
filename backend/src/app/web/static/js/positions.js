// Positions: side, size, entry, mark, unrealized PnL, stop and target with their distance
// from the mark, protection status and the thesis; open orders below. Close and cancel are
// offered to the full token only, each after a confirmation.

import { coalesce, shownPage, turns } from "./api.js";
import { dec, el, percent, signed } from "./format.js";

export function mountPositions(ctx) {
  const positionsBody = document.querySelector("#positions-table tbody");
  const ordersBody = document.querySelector("#orders-table tbody");
  let unsubscribe = [];
  const accountTurns = turns(); // a late answer for the account shown before is dropped
  const full = () => ctx.access === "full";

  const level = (position, prefix) =>
    (position.protection ?? []).find((order) => order.type.startsWith(prefix) && order.stop_price !== null);

  const distance = (price, mark) =>
    price && mark ? percent(Math.abs(Number(price) - Number(mark)) / Number(mark)) : "–";

  const act = async (text, path, options) => {
    const answer = await ctx.confirm(text);
    if (!answer.ok) return;
    try {
      await ctx.api(path, options);
      ctx.notice("");
    } catch (error) {
      ctx.notice(error.message);
    }
    refresh();
  };

  /** A control's cell: its button for the full token (after a confirmation), else empty. */
  const controlCell = (control, label, question, path, options, danger = false) =>
    el(
      "td",
      {},
      full()
        ? el(
            "button",
            {
              type: "button",
              class: danger ? "danger" : null,
              "data-control": control,
              onclick: () => act(question, path, options),
            },
            label,
          )
        : null,
    );

  const positionRow = (position, accountId) => {
    const stop = level(position, "STOP");
    const target = level(position, "TAKE_PROFIT");
    const account = encodeURIComponent(accountId);
    return el(
      "tr",
      { dataset: { symbol: position.symbol } },
      el("td", {}, position.symbol),
      el("td", { class: position.side }, position.side),
      el("td", {}, dec(position.quantity)),
      el("td", {}, dec(position.entry_price)),
      el("td", { class: "live-value" }, dec(position.mark_price)),
      el("td", { class: "live-value" }, signed(position.unrealized_pnl)),
      el("td", {}, stop ? `${stop.stop_price} (${distance(stop.stop_price, position.mark_price)})` : "–"),
      el("td", {}, target ? `${target.stop_price} (${distance(target.stop_price, position.mark_price)})` : "–"),
      el(
        "td",
        { class: position.protected ? "ok" : "alert critical" },
        position.protected ? "protected" : "NO STOP",
      ),
      el(
        "td",
        { class: "thesis" },
        position.thesis
          ? [
              el("div", {}, position.thesis.rationale),
              el("div", { class: "muted" }, "invalid if ", el("code", {}, position.thesis.invalidation ?? "–")),
            ]
          : "–",
      ),
      controlCell(
        "close",
        "Close",
        `Close the whole ${position.symbol} ${position.side} position at market?`,
        `/accounts/${account}/positions/${encodeURIComponent(position.symbol)}/close`,
        { method: "POST", body: { reason: "closed from the dashboard" } },
        true,
      ),
    );
  };

  const orderRow = (order, accountId) => {
    const account = encodeURIComponent(accountId);
    return el(
      "tr",
      {},
      el("td", { class: "mono" }, order.client_order_id),
      el("td", {}, order.symbol),
      el("td", {}, order.purpose ?? "–"),
      el("td", {}, order.type),
      el("td", {}, order.side),
      el("td", {}, order.close_position ? "whole position" : dec(order.quantity)),
      el("td", {}, dec(order.price)),
      el("td", {}, dec(order.stop_price)),
      el("td", {}, order.status),
      controlCell(
        "cancel",
        "Cancel",
        `Cancel order ${order.client_order_id}? A stop cancelled leaves its position unprotected.`,
        `/accounts/${account}/orders/${encodeURIComponent(order.client_order_id)}`,
        { method: "DELETE" },
      ),
    );
  };

  const refresh = coalesce(async () => {
    if (!shown.visible) return; // read when shown, then on every change while shown
    const accountId = ctx.account.id;
    const account = encodeURIComponent(accountId);
    const current = accountTurns.ask();
    try {
      const [positions, orders] = await Promise.all([
        ctx.api(`/accounts/${account}/positions`),
        ctx.api(`/accounts/${account}/orders?open=true&limit=100`),
      ]);
      // A late answer for another account: its rows (and their Close buttons) never show here.
      if (!current()) return;
      positionsBody.replaceChildren(
        ...(positions.length
          ? positions.map((position) => positionRow(position, accountId))
          : [el("tr", {}, el("td", { colspan: 11, class: "muted" }, "no open position"))]),
      );
      ordersBody.replaceChildren(
        ...(orders.items.length
          ? orders.items.map((order) => orderRow(order, accountId))
          : [el("tr", {}, el("td", { colspan: 10, class: "muted" }, "no open order"))]),
      );
    } catch (error) {
      ctx.notice(`Positions: ${error.message}`);
    }
  }, 300);
  const shown = shownPage(refresh);

  return {
    account(account) {
      for (const stop of unsubscribe) stop();
      accountTurns.next();
      positionsBody.replaceChildren();
      ordersBody.replaceChildren();
      const base = `account.${account.id}`;
      unsubscribe = ["positions", "orders", "equity"].map((topic) =>
        ctx.stream.subscribe(`${base}.${topic}`, refresh),
      );
      refresh();
    },
    show: shown.show,
    hide: shown.hide,
    reconnected: shown.reconnected,
  };
}
