// Showing values as the API sends them: decimals are strings and stay strings (no float
// rounding of prices or quantities); times in the browser's zone, UTC on hover.

/** A decimal string as sent, or a dash. */
export function dec(value) {
  return value === null || value === undefined || value === "" ? "–" : String(value);
}

/** A signed decimal string with a class for its sign. */
export function signed(value) {
  const span = document.createElement("span");
  span.textContent = dec(value);
  if (value !== null && value !== undefined) {
    const text = String(value);
    span.className = text.startsWith("-") ? "neg" : /^0(\.0*)?$/.test(text) ? "" : "pos";
  }
  return span;
}

/** A <time> in the browser's zone with the UTC instant on hover. */
export function time(iso) {
  const element = document.createElement("time");
  if (!iso) {
    element.textContent = "–";
    return element;
  }
  const moment = new Date(iso);
  element.dateTime = moment.toISOString();
  element.textContent = moment.toLocaleString();
  element.title = `${moment.toISOString().replace(".000Z", "Z")} (UTC)`;
  return element;
}

/** A plain-number percentage of a derived ratio (display only, never a price). */
export function percent(ratio, digits = 2) {
  return Number.isFinite(ratio) ? `${(ratio * 100).toFixed(digits)} %` : "–";
}

/** Builds an element: el("td", {class: "x"}, "text", child...). */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/**
 * An instant for a chart axis, shown in the browser's zone: plotly draws a Date object at
 * its local wall time (an ISO string it would draw at the string's own, UTC, wall time).
 */
export function chartTime(iso) {
  return new Date(iso);
}

/** The UTC instant of an ISO time, for a hover text. */
export function utc(iso) {
  return `${new Date(iso).toISOString().replace(".000Z", "Z")} UTC`;
}

/**
 * The exact sum of decimal strings, as a decimal string (no float on the way: "0.1" and
 * "0.2" make "0.3"). Null and missing values count as zero.
 */
export function decimalSum(values) {
  const parsed = values
    .filter((v) => v !== null && v !== undefined && v !== "")
    .map((v) => {
      const text = String(v);
      const negative = text.startsWith("-");
      const [whole, fraction = ""] = text.replace(/^[-+]/, "").split(".");
      return { negative, whole, fraction };
    });
  const scale = Math.max(0, ...parsed.map((p) => p.fraction.length));
  let total = 0n;
  for (const p of parsed) {
    const units = BigInt((p.whole || "0") + p.fraction.padEnd(scale, "0"));
    total += p.negative ? -units : units;
  }
  const negative = total < 0n;
  const digits = (negative ? -total : total).toString().padStart(scale + 1, "0");
  const whole = digits.slice(0, digits.length - scale);
  const fraction = scale ? digits.slice(digits.length - scale).replace(/0+$/, "") : "";
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}
