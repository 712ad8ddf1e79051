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
