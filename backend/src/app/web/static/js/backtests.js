// Backtests: the runs started over the API, their progress live on backtest.{id}, and a
// run's report: its equity curve, metrics and notes.

import { coalesce, shownPage, turns } from "./api.js";
import { chartTime, dec, el, time, utc } from "./format.js";

export function mountBacktests(ctx) {
  const body = document.querySelector("#backtests-table tbody");
  const detail = document.querySelector("#backtest-detail");
  let following = null;
  const clicks = turns(); // the run shown: answers and events for one clicked before are dropped
  const EQUITY_PAGES = 40; // 500 points a page: over two years of hourly cycles

  /** Every page of a run's series (oldest first), following the cursor. */
  const allPages = async (path) => {
    const items = [];
    let cursor = null;
    for (let pages = 0; pages < EQUITY_PAGES; pages += 1) {
      const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page = await ctx.api(`${path}?limit=500${after}`);
      items.push(...page.items);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    return items;
  };

  const drawEquity = async (run) => {
    const chart = document.querySelector("#backtest-equity");
    if (!chart || !window.Plotly) return;
    const points = await allPages(`/backtests/${encodeURIComponent(run.id)}/equity`);
    window.Plotly.react(
      chart,
      [{
        type: "scatter", mode: "lines", x: points.map((p) => chartTime(p.at)),
        y: points.map((p) => Number(p.equity)), text: points.map((p) => `${p.equity}<br>${utc(p.at)}`),
        hoverinfo: "text+x", line: { color: "#4ea8f2" },
      }],
      {
        title: { text: "Equity (USDT, one point per cycle)", font: { size: 13 } },
        paper_bgcolor: "#16191f", plot_bgcolor: "#16191f", font: { color: "#d6d9de" },
        margin: { l: 60, r: 20, t: 36, b: 36 },
        xaxis: { gridcolor: "#2a2f38" }, yaxis: { gridcolor: "#2a2f38" },
      },
      { displaylogo: false, responsive: true },
    );
    chart.dataset.points = String(points.length);
  };

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
      el("td", {}, time(run.config.start), " → ", time(run.config.end)),
      el("td", {}, (run.config.assets ?? []).join(", ")),
      el("td", {}, run.config.provider ?? "–"),
      el("td", {}, progressOf(run)),
      el("td", {}, dec(run.metrics?.total_return_pct)),
      el("td", {}, dec(run.metrics?.round_trips ?? run.metrics?.trades)),
    );

  const show = (run) => {
    // A run's series are stored when it ends: until then, progress only (no chart to
    // rebuild and no pages to read again at every progress event).
    const going = run.status === "running" || run.status === "pending";
    const metrics = Object.entries(run.metrics ?? {}).filter(([, v]) => typeof v !== "object" || v === null);
    const parts = [
      el("h2", {}, run.title ?? run.id, " ", el("span", { class: "badge" }, run.status)),
      el("p", {}, "started ", time(run.started_at), ", finished ", time(run.finished_at), ", ", progressOf(run)),
      run.error ? el("p", { class: "error" }, run.error) : null,
      run.notes.length ? el("ul", { class: "notes" }, run.notes.map((n) => el("li", {}, n))) : null,
      going
        ? el("p", { class: "muted" }, "the equity curve is drawn when the run ends")
        : el("div", { id: "backtest-equity", class: "chart" }),
      metrics.length
        ? el("table", { class: "grid metrics" }, el("tbody", {}, metrics.map(([k, v]) => el("tr", {}, el("th", {}, k.replaceAll("_", " ")), el("td", { dataset: { metric: k } }, dec(v))))))
        : null,
    ];
    detail.replaceChildren(...parts.filter(Boolean)); // (replaceChildren writes a null as text)
    detail.dataset.run = run.id;
    detail.dataset.status = run.status;
    if (!going) drawEquity(run).catch((error) => ctx.notice(`Backtest equity: ${error.message}`));
  };

  const open = async (id) => {
    following?.();
    following = null;
    clicks.next();
    const current = clicks.ask();
    try {
      const run = await ctx.api(`/backtests/${encodeURIComponent(id)}`);
      if (!current()) return; // another run was clicked meanwhile
      show(run);
      if (run.status === "running" || run.status === "pending") {
        following = ctx.stream.subscribe(`backtest.${id}`, (message) => {
          if (!current()) return;
          if (message.type === "snapshot" && message.data) show(message.data);
          else if (message.type === "event") {
            refreshOne(id, current);
            if (message.event === "backtest.finished") refresh();
          }
        });
      }
    } catch (error) {
      ctx.notice(`Backtest: ${error.message}`);
    }
  };
  const refreshOne = coalesce(async (id, current) => {
    try {
      const run = await ctx.api(`/backtests/${encodeURIComponent(id)}`);
      if (current()) show(run);
    } catch (error) {
      ctx.notice(`Backtest: ${error.message}`);
    }
  }, 300);

  const refresh = coalesce(async () => {
    if (!shown.visible) return;
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
  const shown = shownPage(refresh);

  // No channel announces new runs: the list is read again every few seconds while shown.
  setInterval(() => shown.visible && refresh(), 3_000);

  return {
    show: shown.show,
    hide: shown.hide,
    reconnected: shown.reconnected,
  };
}
