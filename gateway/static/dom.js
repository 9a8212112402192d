// Small DOM helpers. Text always goes in through textContent: nothing that came
// from a request is ever parsed as HTML.

/**
 * Make an element: ``el('div', {class: 'x', title: 't'}, 'text', child)``.
 * Strings become text nodes; attributes are set with setAttribute (never on* handlers).
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) throw new Error('event handlers go through addEventListener');
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = String(value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export const $ = (id) => document.getElementById(id);

/** "3m 05s" style durations; ``precise`` shows tenths under ten seconds. */
export function duration(seconds, precise = false) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (precise && seconds < 10) return `${Math.max(0, seconds).toFixed(1)}s`;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${String(m % 60).padStart(2, '0')}m`;
}

export function clock(epochSeconds) {
  if (!epochSeconds) return '–';
  const d = new Date(epochSeconds * 1000);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

export const now = () => Date.now() / 1000;

let toastTimer = null;
/** A short message in the corner. */
export function toast(message) {
  const node = $('toast');
  node.textContent = message;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    node.hidden = true;
  }, 3000);
}

/** True when a key press belongs to a text field, not to the shortcuts. */
export function typingIn(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable || target.closest('.capture')) return true;
  const tag = target.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag !== 'INPUT') return false;
  return !['checkbox', 'radio', 'button', 'submit'].includes(target.type);
}

/** Type ``key`` at the end of a text field, as if typed there (its input listeners run). */
export function typeInto(field, key) {
  field.focus({ preventScroll: true });
  const end = field.value.length;
  field.setRangeText(key, end, end, 'end');
  field.dispatchEvent(new Event('input', { bubbles: true }));
}
