// Overview: one card per account (mode, agent, equity, today's PnL, exposure, LLM spend,
// last decision, alerts), the controls (full token only) and the account's newest events.

import { coalesce, shownPage } from "./api.js";
import { dec, el, signed, time } from "./format.js";

const EVENTS_KEPT = 30;

export function mountOverview(ctx) {
  const cards = document.querySelector("#overview-cards");
  const events = document.querySelector("#events");
  let unsubscribe = [];

  const card = (view) => {
    const mode = view.replay ? "replay" : view.trading_mode;
    const budget = view.llm_daily_budget_usd ? ` of ${dec(view.llm_daily_budget_usd)}` : "";
    const alerts = view.alerts.map((alert) =>
      el("li", { class: `alert ${alert.severity}`, dataset: { kind: alert.kind } }, alert.message),
    );
    return el(
      "article",
      { class: "card", dataset: { account: view.account_id, state: view.agent_state } },
      el(
        "h2",
        {},
        view.account_id,
        " ",
        el("span", { class: `badge mode-${mode}` }, mode),
        " ",
        el("span", { class: `badge state-${view.agent_state}`, "data-field": "agent" }, view.agent_state),
      ),
      el(
        "dl",
        {},
        el("dt", {}, "equity"),
        el("dd", { class: "live-value", "data-field": "equity" }, dec(view.equity), " USDT"),
        el("dt", {}, "today's PnL"),
        el("dd", { class: "live-value", "data-field": "today_pnl" }, signed(view.today_pnl)),
        el("dt", {}, "exposure"),
        el(
          "dd",
          { class: "live-value" },
          `${dec(view.exposure_usd)} of ${dec(view.max_total_exposure_usd)} USD`,
          ` (${view.open_positions} open)`,
        ),
        el("dt", {}, "LLM spend today"),
        el("dd", { class: "live-value" }, `${dec(view.llm_spend_today_usd)}${budget} USD`),
        el("dt", {}, "decider"),
        el("dd", {}, view.decider === "llm" ? view.llm_model : "rules (no OpenRouter key)"),
        el("dt", {}, "last decision"),
        el("dd", { class: "live-value", "data-field": "last_decision" }, time(view.last_decision_at)),
        el("dt", {}, "clock"),
        el("dd", { class: "live-value" }, time(view.now)),
      ),
      alerts.length ? el("ul", { class: "alerts" }, alerts) : el("p", { class: "ok" }, "no alerts"),
      view.agent_detail && view.agent_detail !== view.agent_state
        ? el("p", { class: "detail" }, view.agent_detail)
        : null,
    );
  };

  const refresh = coalesce(async () => {
    if (!shown.visible) return; // read when shown, then on every change while shown
    try {
      const views = await Promise.all(
        ctx.accounts.map((account) => ctx.api(`/accounts/${encodeURIComponent(account.id)}/overview`)),
      );
      cards.replaceChildren(...views.map(card));
    } catch (error) {
      ctx.notice(`Overview: ${error.message}`);
    }
  }, 300);
  const shown = shownPage(refresh);

  const eventItem = (item) =>
    el(
      "li",
      { class: `event ${item.severity}` },
      time(item.occurred_at ?? item.at),
      " ",
      el("b", {}, item.type ?? item.event),
      " ",
      item.message ?? item.data?.message ?? "",
    );

  const onEvents = (message) => {
    if (message.type === "snapshot") {
      const items = (message.data ?? []).map(eventItem);
      events.replaceChildren(
        ...(items.length ? items : [el("li", { class: "muted empty" }, "no event yet")]),
      );
    } else {
      events.querySelector(".empty")?.remove();
      events.prepend(
        eventItem({ type: message.event, at: message.at, ...message.data, occurred_at: null }),
      );
      while (events.children.length > EVENTS_KEPT) events.lastChild.remove();
    }
    refresh();
  };

  for (const button of document.querySelectorAll("#controls button")) {
    button.addEventListener("click", async () => {
      const action = button.dataset.action;
      const id = ctx.account.id;
      const texts = {
        pause: `Pause the agent of ${id}? Open positions keep their stops.`,
        start: `Resume the agent of ${id} (this also releases its kill switch)?`,
        cycle: `Run one cycle of ${id} now?`,
        kill: `Kill switch for ${id}: halt the agent and cancel its open orders?`,
      };
      const answer = await ctx.confirm(texts[action], { flatten: action === "kill" });
      if (!answer.ok) return;
      try {
        const path = `/accounts/${encodeURIComponent(id)}`;
        const result =
          action === "kill"
            ? await ctx.api(`${path}/kill`, {
                method: "POST",
                body: { flatten: answer.flatten, reason: "kill switch from the dashboard" },
              })
            : await ctx.api(`${path}/agent/${action}`, { method: "POST" });
        ctx.notice("");
        document.querySelector("#controls").dataset.last = `${action}: ${result.state}`;
      } catch (error) {
        ctx.notice(`${action}: ${error.message}`);
      }
      refresh();
    });
  }

  return {
    account(account) {
      for (const stop of unsubscribe) stop();
      const base = `account.${account.id}`;
      unsubscribe = [
        ctx.stream.subscribe(`${base}.events`, onEvents),
        ...ctx.accounts.map((each) => ctx.stream.subscribe(`account.${each.id}.equity`, refresh)),
        ctx.stream.subscribe(`${base}.decisions`, refresh),
      ];
      refresh();
    },
    show: shown.show,
    hide: shown.hide,
    reconnected: shown.reconnected,
  };
}
