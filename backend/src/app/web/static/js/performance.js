// Performance: the equity curve and its drawdown, the metrics table, fees and funding (all
// from /performance, refreshed as equity ticks arrive while the page is shown).

import { ApiError, coalesce, shownPage, turns } from "./api.js";
import { chartTime, dec, el, utc } from "./format.js";

const BUCKETS = ["1h", "4h", "1d", "1w"];
const ROWS = [
  ["start equity", "start_equity"], ["end equity", "end_equity"], ["return %", "return_pct"],
  ["max drawdown %", "max_drawdown_pct"], ["Sharpe", "sharpe"], ["Sortino", "sortino"],
  ["win rate (round trips after fees)", "win_rate"], ["profit factor", "profit_factor"],
  ["round trips", "trades"], ["realized PnL", "realized_pnl"], ["unrealized PnL", "unrealized_pnl"],
  ["fees", "fees"], ["funding", "funding"], ["LLM cost (USD)", "llm_cost_usd"],
  ["decisions", "decisions"], ["cost per decision (USD)", "cost_per_decision"],
];

export function mountPerformance(ctx) {
  const equityChart = document.querySelector("#equity-chart");
  const drawdownChart = document.querySelector("#drawdown-chart");
  const metrics = document.querySelector("#metrics tbody");
  let unsubscribe = [];
  const accountTurns = turns(); // a late answer for the account shown before is dropped

  const layout = (title, extra = {}) => ({
    title: { text: title, font: { size: 13 } },
    paper_bgcolor: "#16191f", plot_bgcolor: "#16191f", font: { color: "#d6d9de" },
    margin: { l: 60, r: 20, t: 36, b: 36 },
    xaxis: { gridcolor: "#2a2f38" }, yaxis: { gridcolor: "#2a2f38", ...extra },
  });

  const fetchPerformance = async () => {
    const account = encodeURIComponent(ctx.account.id);
    for (const bucket of BUCKETS) {
      try {
        return await ctx.api(`/accounts/${account}/performance?bucket=${bucket}`);
      } catch (error) {
        // Too many points for this bucket: a coarser one.
        if (!(error instanceof ApiError && error.status === 422)) throw error;
      }
    }
    throw new Error("the equity curve is too long for any bucket");
  };

  const refresh = coalesce(async () => {
    if (!shown.visible || !window.Plotly) return;
    const current = accountTurns.ask();
    try {
      const view = await fetchPerformance();
      if (!current()) return;
      const x = view.curve.map((p) => chartTime(p.at));
      const equity = view.curve.map((p) => Number(p.equity));
      let peak = -Infinity;
      const drawdown = equity.map((value) => {
        peak = Math.max(peak, value);
        return peak > 0 ? ((value - peak) / peak) * 100 : 0;
      });
      const config = { displaylogo: false, responsive: true };
      window.Plotly.react(
        equityChart,
        [{ type: "scatter", mode: "lines", x, y: equity, text: view.curve.map((p) => `${p.equity}<br>${utc(p.at)}`), hoverinfo: "text+x", line: { color: "#4ea8f2" } }],
        layout(`Equity (USDT, ${view.bucket} buckets)`),
        config,
      );
      window.Plotly.react(
        drawdownChart,
        [{ type: "scatter", mode: "lines", x, y: drawdown, fill: "tozeroy", line: { color: "#ef5350" } }],
        layout("Drawdown (%)", { ticksuffix: " %" }),
        config,
      );
      equityChart.dataset.points = String(x.length);
      metrics.replaceChildren(
        ...ROWS.map(([label, key]) =>
          el("tr", {}, el("th", {}, label), el("td", { dataset: { metric: key } }, dec(view[key]))),
        ),
      );
    } catch (error) {
      ctx.notice(`Performance: ${error.message}`);
    }
  }, 1000);
  const shown = shownPage(refresh);

  return {
    account(account) {
      for (const stop of unsubscribe) stop();
      accountTurns.next();
      unsubscribe = [ctx.stream.subscribe(`account.${account.id}.equity`, refresh)];
      refresh();
    },
    show: shown.show,
    hide: shown.hide,
    reconnected: shown.reconnected,
  };
}
