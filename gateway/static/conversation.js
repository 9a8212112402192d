// The conversation as the agent sent it: chat messages or Responses items, in order.
// Everything here came from a client request: it is rendered as text only.
import { clear, el } from './dom.js';

const LONG_CHARS = 700;
const LONG_LINES = 12;

/** Only same-origin image links made by the gateway (or inline data) become <img>. */
function safeImage(url) {
  return typeof url === 'string' && (/^\/api\/tasks\/[^/]+\/images\/\d+$/.test(url) || url.startsWith('data:image/'));
}

/** A block of text that folds when long. */
export function textBlock(text, mono = false) {
  const value = typeof text === 'string' ? text : JSON.stringify(text, null, 2);
  const pre = el('pre', { class: mono ? 'text mono' : 'text' }, value);
  const long = value.length > LONG_CHARS || value.split('\n').length > LONG_LINES;
  if (!long) return pre;
  pre.classList.add('collapsed');
  const more = el('button', { type: 'button', class: 'more' }, 'Show more');
  more.addEventListener('click', () => {
    const collapsed = pre.classList.toggle('collapsed');
    more.textContent = collapsed ? 'Show more' : 'Show less';
  });
  return el('div', {}, pre, more);
}

/** What stands in for an image the gateway will not serve (not PNG, JPEG, GIF or WebP). */
export const UNSHOWN_IMAGE = 'not shown: not a PNG, JPEG, GIF or WebP image';

let shownElsewhere = null; // the open task's current screenshot: the workspace shows it

function image(url, label = 'image') {
  if (url && url === shownElsewhere) return el('p', { class: 'muted current-shot' }, `[${label}: the current screenshot, shown in the workspace]`);
  if (safeImage(url)) {
    const img = el('img', { src: url, alt: label, loading: 'lazy' });
    img.addEventListener('error', () => img.replaceWith(el('p', { class: 'muted unshown-image' }, `[${label}: ${UNSHOWN_IMAGE}]`)), { once: true });
    return img;
  }
  return el('p', { class: 'muted' }, `[${label}: `, el('code', {}, String(url ?? '')), ']');
}

/** Content parts of either API: strings, text parts, image parts, files, audio. */
function parts(content) {
  if (content === null || content === undefined) return [];
  if (typeof content === 'string') return [textBlock(content)];
  if (!Array.isArray(content)) return [textBlock(content, true)];
  return content.map((part) => {
    if (typeof part === 'string') return textBlock(part);
    const type = part?.type;
    if (type === 'text' || type === 'input_text' || type === 'output_text') return textBlock(part.text ?? '');
    if (type === 'refusal') return textBlock(`[refusal] ${part.refusal ?? ''}`);
    if (type === 'image_url') return image(part.image_url?.url ?? part.image_url);
    if (type === 'input_image') return image(part.image_url);
    return textBlock(part, true);
  });
}

function message(role, kind, ...body) {
  return el('div', { class: `msg ${kind}` }, el('div', { class: 'role' }, role), ...body);
}

function args(raw) {
  if (typeof raw !== 'string') return textBlock(raw, true);
  try {
    return textBlock(JSON.stringify(JSON.parse(raw), null, 2), true);
  } catch {
    return textBlock(raw, true);
  }
}

/** One chat-completions message. */
function chatMessage(msg) {
  const role = String(msg?.role ?? 'unknown');
  const nodes = parts(msg?.content);
  // A model's thinking (Claude's thinking blocks, reasoning_content elsewhere): folded, first.
  if (typeof msg?.reasoning_content === 'string' && msg.reasoning_content) {
    nodes.unshift(el('details', { class: 'thinking' }, el('summary', {}, 'thinking'), textBlock(msg.reasoning_content)));
  }
  for (const call of msg?.tool_calls ?? []) {
    nodes.push(
      el('div', { class: 'mono' }, `→ ${call?.function?.name ?? '?'} (${call?.id ?? ''})`),
      args(call?.function?.arguments ?? ''),
    );
  }
  const title = msg?.tool_call_id ? `${role} · ${msg.tool_call_id}` : msg?.name ? `${role} · ${msg.name}` : role;
  return message(title, role === 'developer' ? 'system' : role, ...nodes);
}

function describeAction(action) {
  if (!action || typeof action !== 'object') return String(action);
  const { type, ...rest } = action;
  return `${type} ${JSON.stringify(rest)}`;
}

/** One Responses input item. */
function responsesItem(item) {
  if (typeof item === 'string') return message('user', 'user', textBlock(item));
  const type = item?.type;
  if (!type || type === 'message') {
    const role = String(item?.role ?? 'user');
    return message(role, role === 'developer' ? 'system' : role, ...parts(item?.content));
  }
  if (type === 'function_call') {
    return message(`function call · ${item.call_id ?? ''}`, 'call', el('div', { class: 'mono' }, `→ ${item.name ?? '?'}`), args(item.arguments));
  }
  if (type === 'function_call_output') {
    return message(`function output · ${item.call_id ?? ''}`, 'output', ...parts(item.output));
  }
  if (type === 'computer_call') {
    const actions = item.actions ?? (item.action ? [item.action] : []);
    return message(`computer call · ${item.call_id ?? ''}`, 'call', ...actions.map((a) => el('div', { class: 'mono' }, describeAction(a))));
  }
  if (type === 'computer_call_output') {
    const out = item.output ?? {};
    return message(
      `screenshot · ${item.call_id ?? ''}`,
      'output',
      item.output?.current_url || item.current_url ? el('div', { class: 'mono' }, String(item.output?.current_url ?? item.current_url)) : null,
      image(out.image_url, 'screenshot'),
    );
  }
  if (type === 'reasoning') {
    const summary = (item.summary ?? []).map((s) => s?.text ?? '').join('\n');
    return message('reasoning', 'system', textBlock(summary || '(no summary)'));
  }
  return message(String(type), 'system', textBlock(item, true));
}

/** Render a full task's request into ``root``. */
export function renderConversation(root, task, current = null) {
  clear(root);
  shownElsewhere = current;
  const request = task.request ?? {};
  if (task.api === 'chat.completions') {
    for (const msg of request.messages ?? []) root.append(chatMessage(msg));
  } else {
    if (request.instructions) root.append(message('instructions', 'system', textBlock(request.instructions)));
    const input = request.input;
    const items = typeof input === 'string' ? [{ role: 'user', content: input }] : Array.isArray(input) ? input : [];
    for (const item of items) root.append(responsesItem(item));
  }
  // A computer declared as a display and as the function its actions become (Claude's
  // computer tool, see doors/anthropic) is listed once, as the display.
  const display = (task.tools ?? []).some((t) => t.type === 'computer');
  const listed = (task.tools ?? []).filter((t) => !(display && t.type === 'function' && t.name === 'computer'));
  const tools = listed.map((t) => (t.type === 'function' ? t.name : t.type === 'computer' ? `computer ${t.display_width ?? '?'}×${t.display_height ?? '?'} ${t.environment ?? ''}` : `${t.type} ${t.name ?? ''}`));
  if (tools.length) root.append(el('p', { class: 'muted' }, 'Tools: ', tools.join(', ')));
  if (!root.childElementCount) root.append(el('p', { class: 'muted' }, 'Empty request.'));
}

/** The latest image link in the request: the screen the agent sees now. */
export function latestScreenshot(task) {
  const count = task.images ?? 0;
  return count > 0 ? `/api/tasks/${encodeURIComponent(task.id)}/images/${count - 1}` : null;
}
