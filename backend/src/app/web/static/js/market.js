// Market: candles of one symbol and interval with the account's entries and exits, the open
// position's stop and take-profit, and indicator overlays to toggle. Plotting needs numbers,
// so prices become floats on the chart only; hover texts show the API's strings.

import { coalesce, turns } from "./api.js";
import { chartTime, utc } from "./format.js";

const CANDLES = 300;
const FILLS_KEPT = 500;
const OVERLAYS = {
  ema_20: { label: "EMA 20", color: "#f2c14e", on: true },
  ema_50: { label: "EMA 50", color: "#4ea8f2", on: true },
  ema_200: { label: "EMA 200", color: "#c77dff", on: false },
  bb: { label: "Bollinger", color: "#8a8f98", on: false, series: ["bb_upper", "bb_middle", "bb_lower"] },
};

export function mountMarket(ctx) {
  const chart = document.querySelector("#market-chart");
  const symbolPick = document.querySelector("#market-symbol");
  const intervalPick = document.querySelector("#market-interval");
  const toggles = document.querySelector("#indicator-toggles");
  const state = {
    candles: [], fills: [], positions: [], overlays: null, visible: false, loaded: false,
  };
  let unsubscribe = [];
  let marketStop = null;
  // Every switch of account, symbol or interval: an answer for an earlier choice that
  // arrives late is dropped, never drawn under the current one.
  const seriesTurns = turns();
  const accountTurns = turns(); // the same for the account's own setup (its intervals first)

  for (const [key, overlay] of Object.entries(OVERLAYS)) {
    const box = Object.assign(document.createElement("input"), { type: "checkbox", checked: overlay.on });
    box.dataset.overlay = key;
    box.addEventListener("change", () => {
      overlay.on = box.checked;
      draw();
    });
    const label = document.createElement("label");
    label.append(box, ` ${overlay.label}`);
    toggles.append(label);
  }

  const symbol = () => symbolPick.value;
  const interval = () => intervalPick.value;

  const draw = () => {
    if (!state.visible || !window.Plotly) return;
    const x = state.candles.map((c) => chartTime(c.open_time));
    const traces = [
      {
        type: "candlestick",
        name: symbol(),
        x,
        open: state.candles.map((c) => Number(c.open)),
        high: state.candles.map((c) => Number(c.high)),
        low: state.candles.map((c) => Number(c.low)),
        close: state.candles.map((c) => Number(c.close)),
        increasing: { line: { color: "#26a69a" } },
        decreasing: { line: { color: "#ef5350" } },
        showlegend: false,
      },
    ];
    if (state.overlays) {
      for (const [key, overlay] of Object.entries(OVERLAYS)) {
        if (!overlay.on) continue;
        for (const name of overlay.series ?? [key]) {
          traces.push({
            type: "scatter",
            mode: "lines",
            name: name.replace("_", " "),
            x: state.overlays.open_times.map(chartTime),
            y: state.overlays.series[name] ?? [],
            line: { color: overlay.color, width: 1 },
            hoverinfo: "skip",
          });
        }
      }
    }
    const first = state.candles[0]?.open_time;
    const since = first ? new Date(first) : null; // (the stream's times and the API's differ in form)
    const fills = state.fills.filter((f) => f.symbol === symbol() && (!since || new Date(f.filled_at) >= since));
    for (const [side, shape, color] of [["BUY", "triangle-up", "#26a69a"], ["SELL", "triangle-down", "#ef5350"]]) {
      const these = fills.filter((f) => f.side === side);
      traces.push({
        type: "scatter",
        mode: "markers",
        name: side === "BUY" ? "buys" : "sells",
        x: these.map((f) => chartTime(f.filled_at)),
        y: these.map((f) => Number(f.price)),
        text: these.map(
          (f) => `${f.side} ${f.quantity} @ ${f.price}<br>realized ${f.realized_pnl}<br>${utc(f.filled_at)}`,
        ),
        hoverinfo: "text+x",
        marker: { symbol: shape, size: 12, color, line: { color: "#111", width: 1 } },
      });
    }
    const shapes = [];
    const annotations = [];
    const position = state.positions.find((p) => p.symbol === symbol());
    if (position) {
      const levels = [["entry", position.entry_price, "#bbbbbb"]];
      for (const order of position.protection ?? []) {
        if (order.stop_price === null) continue;
        const stop = order.type.startsWith("STOP");
        levels.push([stop ? "stop" : "target", order.stop_price, stop ? "#ef5350" : "#26a69a"]);
      }
      for (const [label, price, color] of levels) {
        shapes.push({
          type: "line", xref: "paper", x0: 0, x1: 1, y0: Number(price), y1: Number(price),
          line: { color, width: 1, dash: label === "entry" ? "dot" : "dash" },
        });
        annotations.push({
          xref: "paper", x: 1, xanchor: "right", y: Number(price), yanchor: "bottom",
          text: `${label} ${price}`, showarrow: false, font: { color, size: 11 },
        });
      }
    }
    const layout = {
      paper_bgcolor: "#16191f", plot_bgcolor: "#16191f", font: { color: "#d6d9de" },
      margin: { l: 60, r: 20, t: 20, b: 40 },
      xaxis: { rangeslider: { visible: false }, gridcolor: "#2a2f38" },
      yaxis: { gridcolor: "#2a2f38", fixedrange: false },
      legend: { orientation: "h", y: 1.06 },
      shapes, annotations,
    };
    window.Plotly.react(chart, traces, layout, { displaylogo: false, responsive: true });
    chart.dataset.symbol = symbol();
    chart.dataset.candles = String(state.candles.length);
    chart.dataset.markers = String(fills.length);
    chart.dataset.levels = String(shapes.length);
  };

  const loadPositions = coalesce(async () => {
    const current = seriesTurns.ask();
    try {
      const positions = await ctx.api(`/accounts/${encodeURIComponent(ctx.account.id)}/positions`);
      if (!current()) return;
      state.positions = positions;
      draw();
    } catch (error) {
      ctx.notice(`Market: ${error.message}`);
    }
  }, 300);

  const load = async () => {
    if (!symbol() || !interval()) return; // the account's series are not known yet
    const sym = encodeURIComponent(symbol());
    const account = encodeURIComponent(ctx.account.id);
    const current = seriesTurns.ask();
    try {
      const [candles, fills, positions, overlays] = await Promise.all([
        ctx.api(`/market/${sym}/candles?interval=${interval()}&limit=${CANDLES}`),
        ctx.api(`/accounts/${account}/fills?symbol=${sym}&limit=200`),
        ctx.api(`/accounts/${account}/positions`),
        ctx.api(`/market/${sym}/indicator-series?interval=${interval()}&limit=${CANDLES}`),
      ]);
      if (!current()) return; // another symbol, interval or account since
      state.candles = candles.candles;
      state.loaded = true;
      state.fills = fills.items.slice().reverse(); // oldest first, as the stream appends
      state.positions = positions;
      state.overlays = overlays;
      draw();
    } catch (error) {
      ctx.notice(`Market: ${error.message}`);
    }
  };
  const reloadOverlays = coalesce(async () => {
    const sym = encodeURIComponent(symbol());
    const current = seriesTurns.ask();
    try {
      const overlays = await ctx.api(`/market/${sym}/indicator-series?interval=${interval()}&limit=${CANDLES}`);
      if (!current()) return;
      state.overlays = overlays;
      draw();
    } catch (error) {
      ctx.notice(`Market: ${error.message}`);
    }
  }, 500);

  const onCandle = (message) => {
    if (message.type !== "event" || !message.data) return;
    // Until this series is read, a closed candle would be drawn alone: the read has it.
    if (!state.loaded) return;
    const candle = message.data;
    const last = state.candles[state.candles.length - 1];
    if (last && candle.open_time <= last.open_time) return;
    state.candles.push(candle);
    if (state.candles.length > CANDLES) state.candles.shift();
    draw();
    reloadOverlays();
  };

  const follow = () => {
    seriesTurns.next();
    marketStop?.();
    marketStop = ctx.stream.subscribe(`market.${symbol()}.${interval()}`, onCandle);
    // Nothing of the previous symbol stays drawn (nor gets this one's candles appended).
    Object.assign(state, { candles: [], fills: [], positions: [], overlays: null, loaded: false });
    load();
  };
  symbolPick.addEventListener("change", follow);
  intervalPick.addEventListener("change", follow);

  return {
    async account(account) {
      for (const stop of unsubscribe) stop();
      unsubscribe = [];
      seriesTurns.next();
      accountTurns.next();
      const current = accountTurns.ask();
      const symbols = account.assets.map((asset) => (asset.toUpperCase().endsWith("USDT") ? asset.toUpperCase() : `${asset.toUpperCase()}USDT`));
      symbolPick.replaceChildren(...symbols.map((s) => new Option(s, s)));
      const intervals = await ctx.api(`/accounts/${encodeURIComponent(account.id)}/overview`)
        .then((view) => [...new Set([view.interval, view.long_interval])])
        .catch(() => ["1h"]);
      if (!current()) return; // another account was picked meanwhile
      intervalPick.replaceChildren(...intervals.map((i) => new Option(i, i)));
      const base = `account.${account.id}`;
      unsubscribe = [
        ctx.stream.subscribe(`${base}.fills`, (message) => {
          if (message.type !== "event") return;
          const fill = message.data;
          // Once per trade (a fill both read and streamed around a reconnect), and only
          // this symbol's: the list is the chart's, not the account's history.
          if (fill.symbol !== symbol() || state.fills.some((f) => f.trade_id === fill.trade_id)) return;
          state.fills.push({ ...fill, filled_at: fill.time });
          if (state.fills.length > FILLS_KEPT) state.fills.shift();
          draw();
        }),
        ctx.stream.subscribe(`${base}.positions`, loadPositions),
        ctx.stream.subscribe(`${base}.orders`, loadPositions),
      ];
      follow();
    },
    show() {
      state.visible = true;
      draw();
      window.Plotly?.Plots.resize(chart);
    },
    hide() {
      state.visible = false;
    },
    reconnected: load,
  };
}
