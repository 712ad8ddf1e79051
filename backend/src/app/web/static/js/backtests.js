// Backtests: the runs started over the API, their progress live on backtest.{id}, and a
// finished run's metrics and notes.

import { coalesce } from "./api.js";
import { dec, el, time } from "./format.js";

export function mountBacktests(ctx) {
  const body = document.querySelector("#backtests-table tbody");
  const detail = document.querySelector("#backtest-detail");
  let following = null;
  let visible = false;

  const progressOf = (run) => {
    const p = run.progress;
    if (!p) return "–";
    return p.total_ticks ? `${p.ticks ?? 0} / ${p.total_ticks} cycles` : `${p.ticks ?? 0} cycles`;
  };

  const row = (run) =>
    el(
      "tr",
      { class: "clickable", dataset: { run: run.id }, onclick: () => open(run.id) },
      el("td", { class: "mono" }, run.title ?? run.id),
      el("td", {}, run.status),
      el("td", {}, `${run.config.start ?? "?"} → ${run.config.end ?? "?"}`),
      el("td", {}, (run.config.assets ?? []).join(", ")),
      el("td", {}, run.config.provider ?? "–"),
      el("td", {}, progressOf(run)),
      el("td", {}, dec(run.metrics?.total_return_pct)),
      el("td", {}, dec(run.metrics?.round_trips ?? run.metrics?.trades)),
    );

  const show = (run) => {
    const metrics = Object.entries(run.metrics ?? {}).filter(([, v]) => typeof v !== "object" || v === null);
    detail.replaceChildren(
      el("h2", {}, run.title ?? run.id, " ", el("span", { class: "badge" }, run.status)),
      el("p", {}, "started ", time(run.started_at), ", finished ", time(run.finished_at), ", ", progressOf(run)),
      run.error ? el("p", { class: "error" }, run.error) : null,
      run.notes.length ? el("ul", { class: "notes" }, run.notes.map((n) => el("li", {}, n))) : null,
      metrics.length
        ? el("table", { class: "grid metrics" }, el("tbody", {}, metrics.map(([k, v]) => el("tr", {}, el("th", {}, k.replaceAll("_", " ")), el("td", {}, dec(v))))))
        : null,
    );
  };

  const open = async (id) => {
    following?.();
    following = null;
    try {
      const run = await ctx.api(`/backtests/${encodeURIComponent(id)}`);
      show(run);
      if (run.status === "running" || run.status === "pending") {
        following = ctx.stream.subscribe(`backtest.${id}`, (message) => {
          if (message.type === "snapshot" && message.data) show(message.data);
          else if (message.type === "event") {
            refreshOne(id);
            if (message.event === "backtest.finished") refresh();
          }
        });
      }
    } catch (error) {
      ctx.notice(`Backtest: ${error.message}`);
    }
  };
  const refreshOne = coalesce(async (id) => show(await ctx.api(`/backtests/${encodeURIComponent(id)}`)), 300);

  const refresh = coalesce(async () => {
    if (!visible) return;
    try {
      const page = await ctx.api("/backtests?limit=50");
      body.replaceChildren(
        ...(page.items.length
          ? page.items.map(row)
          : [el("tr", {}, el("td", { colspan: 8, class: "muted" }, "no backtest yet: POST /api/v1/backtests or `trading-agent backtest`"))]),
      );
    } catch (error) {
      ctx.notice(`Backtests: ${error.message}`);
    }
  }, 200);

  return {
    show() {
      visible = true;
      refresh();
    },
    hide() {
      visible = false;
    },
    reconnected: refresh,
  };
}
