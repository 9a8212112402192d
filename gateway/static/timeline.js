// The trajectory: the past steps of the agent's run, newest first. Each step is one
// answer (a person's or a model's) with the screenshot it was given on, as a
// thumbnail the server made small, the marks of the actions taken on it and a line
// per action. Older steps fold. A thumbnail opens the full image on demand. The
// current screenshot is not repeated here: it is the workspace's.
// Everything shown came from a request: text goes in through textContent only.
import { actionsFromArguments, brief } from './actions.js';
import { UNSHOWN_IMAGE } from './conversation.js';
import { $, clear, el } from './dom.js';
import { drawMarks, svg } from './marks.js';

const OPEN_STEPS = 3; // the newest steps shown open; older ones fold
const THUMB_WIDTH = 320; // asked of the server; the column shows it smaller
const VIEW_WIDTH = 260; // the marks' coordinate width on a thumbnail
const IMAGE_LINK = /^\/api\/tasks\/[^/]+\/images\/(\d+)$/;

function imageIndexes(content) {
  const found = [];
  const visit = (value) => {
    if (typeof value === 'string') {
      const m = IMAGE_LINK.exec(value);
      if (m) found.push(Number(m[1]));
    } else if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === 'object') Object.values(value).forEach(visit);
  };
  visit(content);
  return found;
}

/** Function-call arguments as an object, whether sent as a JSON string or not. */
export function parsedArguments(value) {
  if (typeof value !== 'string') return value ?? {};
  try {
    return JSON.parse(value || '{}');
  } catch {
    return {};
  }
}

function textOf(content) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (typeof p === 'string' ? p : p?.text ?? p?.refusal ?? '')).join(' ').trim();
}

/** "name(city: Paris, days: 3)": a call as people read it. */
export function readableCall(name, args) {
  const value = parsedArguments(args);
  const parts = value && typeof value === 'object' && !Array.isArray(value)
    ? Object.entries(value).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    : [JSON.stringify(value)];
  return `${name ?? '?'}(${parts.join(', ')})`;
}

const short = (text, n = 140) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

/**
 * The request as steps: [{image, actions, lines, results}] in order, plus the goal
 * (the first user text) and the image the agent sees now.
 */
export function pastSteps(task) {
  const request = task.request ?? {};
  const chat = task.api === 'chat.completions';
  let items = chat ? request.messages ?? [] : request.input ?? [];
  if (typeof items === 'string') items = [{ role: 'user', content: items }];
  if (!Array.isArray(items)) items = [];
  const steps = [];
  let lastImage = null;
  let goal = '';
  let step = null; // the answer being read (Responses answers span several items)
  const answer = () => {
    if (!step) {
      step = { image: lastImage, actions: [], lines: [], results: [] };
      steps.push(step);
    }
    return step;
  };
  // Results are kept whole: the step shows a line of each and opens it in full on demand.
  const after = (line) => steps.length && steps[steps.length - 1].results.push(line);
  for (const item of items) {
    const type = typeof item === 'string' ? 'message' : item?.type ?? 'message';
    const role = typeof item === 'string' ? 'user' : item?.role;
    if (type === 'message' && role === 'assistant') {
      const s = answer();
      const text = textOf(item.content);
      for (const call of item.tool_calls ?? []) {
        const name = call?.function?.name ?? '';
        const args = parsedArguments(call?.function?.arguments);
        const actions = name.toLowerCase().includes('computer') ? actionsFromArguments(args) : [];
        if (actions.length) s.actions.push(...actions);
        else s.lines.push(`→ ${readableCall(name, args)}`);
      }
      if (text) s.lines.push(`“${short(text)}”`);
      if (chat) step = null;
      continue;
    }
    if (type === 'computer_call') {
      answer().actions.push(...(item.actions ?? (item.action ? [item.action] : [])));
      continue;
    }
    if (type === 'function_call') {
      answer().lines.push(`→ ${readableCall(item.name, item.arguments)}`);
      continue;
    }
    step = null;
    const images = imageIndexes(type === 'message' ? item.content : item.output ?? item);
    if (images.length) lastImage = images[images.length - 1];
    if (type === 'message') {
      const text = typeof item === 'string' ? item : textOf(item.content);
      if (role === 'user' && !goal && text) goal = text;
      else if (role === 'tool' && text) after(`← ${text}`);
      else if (role === 'user' && text) after(`user: ${text}`);
    } else if (type === 'function_call_output') {
      after(`← ${typeof item.output === 'string' ? item.output : textOf(item.output)}`);
    }
  }
  return { steps, goal, current: lastImage };
}

function displaySize(task, image) {
  const computer = (task.tools ?? []).find((t) => t.type === 'computer');
  if (Number.isInteger(computer?.display_width) && Number.isInteger(computer?.display_height)) {
    return [computer.display_width, computer.display_height];
  }
  const size = task.image_sizes?.[image];
  return size ? [size[0], size[1]] : null;
}

function thumbnail(task, image, actions, onOpen) {
  const src = `/api/tasks/${encodeURIComponent(task.id)}/images/${image}`;
  const size = displaySize(task, image);
  const img = el('img', { src: `${src}?w=${THUMB_WIDTH}`, alt: `screenshot ${image + 1}`, loading: 'lazy' });
  // The gateway serves raster images only: say so instead of a broken image.
  img.addEventListener('error', () => img.replaceWith(el('span', { class: 'muted unshown-image' }, `Screenshot ${UNSHOWN_IMAGE}.`)), { once: true });
  const frame = el('button', { type: 'button', class: 'thumb', title: 'Open the full screenshot' }, img);
  if (size) {
    const [w, h] = size;
    const height = (VIEW_WIDTH * h) / w;
    const marks = svg('svg', { class: 'marks', viewBox: `0 0 ${VIEW_WIDTH} ${height}`, 'aria-hidden': 'true' });
    drawMarks(marks, actions, (p) => ({ x: ((p.x + 0.5) * VIEW_WIDTH) / w, y: ((p.y + 0.5) * height) / h }), { small: true });
    frame.append(marks);
  }
  frame.addEventListener('click', () => onOpen(src, actions, size));
  return frame;
}

/** The full screenshot of a past step over the page, with its marks; Esc or a click closes it. */
function showFull(src, actions, size) {
  const img = el('img', { src, alt: 'full screenshot' });
  const box = el('div', { class: 'full-shot' }, img);
  if (size) {
    const marks = svg('svg', { class: 'marks', viewBox: `0 0 ${size[0]} ${size[1]}`, 'aria-hidden': 'true' });
    drawMarks(marks, actions, (p) => ({ x: p.x + 0.5, y: p.y + 0.5 }), { small: size[0] < 900 });
    box.append(marks);
  }
  const overlay = el('div', { class: 'overlay lightbox', role: 'dialog', 'aria-label': 'Screenshot' }, box);
  const close = () => {
    overlay.remove();
    document.removeEventListener('keydown', onKey, true);
  };
  const onKey = (e) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      close();
    }
  };
  overlay.addEventListener('click', close);
  document.addEventListener('keydown', onKey, true);
  document.body.append(overlay);
}

const RESULT_CHARS = 140; // a result longer than this shows its start, and opens in full

/**
 * What came back from a call: in full when short; otherwise its start, and a click,
 * Enter or Space opens it whole (a long one scrolls within the step).
 */
function resultLine(line) {
  if (line.length <= RESULT_CHARS) return el('li', { class: 'result muted' }, line);
  const full = el('pre', { class: 'result-full', hidden: true, tabindex: '0' }, line);
  const toggle = el('button', { type: 'button', class: 'result-toggle', 'aria-expanded': 'false', title: 'Show the whole result' }, short(line, RESULT_CHARS), el('span', { class: 'more' }, ' show all'));
  toggle.addEventListener('click', () => {
    const open = full.hidden;
    full.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    toggle.lastChild.textContent = open ? ' show less' : ' show all';
  });
  return el('li', { class: 'result muted long' }, el('div', {}, toggle, full));
}

function stepCard(task, step, number) {
  const lines = [
    ...step.actions.map((a, i) => el('li', { class: 'act' }, el('span', { class: 'num' }, String(i + 1)), brief(a))),
    ...step.lines.map((line) => el('li', { class: 'said' }, line)),
    ...step.results.map((line) => resultLine(line)),
  ];
  return el(
    'li',
    { class: 'step', 'data-step': number },
    el('div', { class: 'step-head' }, `Step ${number}`),
    step.image !== null ? thumbnail(task, step.image, step.actions, showFull) : null,
    el('ol', { class: 'step-lines' }, ...lines),
  );
}

/** Render the timeline of ``task`` into #timeline; returns how many past steps there are. */
export function renderTimeline(task) {
  const root = clear($('timeline'));
  const { steps, goal } = pastSteps(task);
  if (goal) root.append(el('div', { class: 'goal' }, el('span', { class: 'label' }, 'Goal '), short(goal, 400)));
  if (!steps.length) {
    root.append(el('p', { class: 'muted' }, 'First step: nothing done yet.'));
    return 0;
  }
  const cards = steps.map((step, i) => stepCard(task, step, i + 1)).reverse();
  root.append(el('ol', { class: 'steps' }, ...cards.slice(0, OPEN_STEPS)));
  if (cards.length > OPEN_STEPS) {
    const older = cards.length - OPEN_STEPS;
    root.append(el('details', { class: 'older' }, el('summary', {}, `${older} earlier step${older > 1 ? 's' : ''}`), el('ol', { class: 'steps' }, ...cards.slice(OPEN_STEPS))));
  }
  root.scrollTop = 0;
  return steps.length;
}
