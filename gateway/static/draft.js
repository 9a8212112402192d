// The model's draft on a hybrid task: what it said, its confidence next to the
// model's threshold, what the person changed after loading it to edit, and the
// accept-with-one-key flow.
//
// Accepting with one key (a) does not send at once: it shows what will be sent and
// sends after UNDO_S seconds unless the person presses Undo (or Esc). Chosen over a
// confirmation dialog: the usual case (the draft is right) stays one key, and a
// slip costs nothing, because nothing has reached the agent until the time is up.
import { brief } from './actions.js';
import { textBlock } from './conversation.js';
import { $, clear, el } from './dom.js';
import { readableCall } from './timeline.js';

export const UNDO_S = 5;

const percent = (x) => `${Math.round(x * 100)}%`;

export function renderDraft(draft, threshold) {
  $('draft').hidden = !draft;
  $('draft-diff').textContent = '';
  if (!draft) return;
  const known = typeof draft.confidence === 'number';
  let text = known ? `confidence ${percent(draft.confidence)}` : 'confidence unknown';
  if (typeof threshold === 'number') text += known && draft.confidence < threshold ? ` · below the threshold ${percent(threshold)}` : ` · threshold ${percent(threshold)}`;
  $('draft-confidence').textContent = text;
  clear($('draft-body')).append(...draftLines(draft));
}

function draftLines(draft) {
  const nodes = [];
  if (draft.content) nodes.push(textBlock(draft.content));
  for (const call of draft.tool_calls ?? []) nodes.push(el('div', { class: 'mono' }, `→ ${readableCall(call.name, call.arguments)}`));
  (draft.computer_actions ?? []).forEach((action, i) => nodes.push(el('div', { class: 'mono' }, `${i + 1}. ${brief(action)}`)));
  return nodes;
}

const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** What an answer changes from the draft, in a line ('' when nothing). */
export function draftDiff(draft, body) {
  if (!draft) return '';
  const changes = [];
  const before = draft.content ?? '';
  const after = body.content ?? '';
  if (before !== after) changes.push(`reply text ${before ? 'edited' : 'added'} (${before.length} → ${after.length} characters)`);
  const calls = (draft.tool_calls ?? []).map((c) => readableCall(c.name, c.arguments));
  const mine = (body.tool_calls ?? []).map((c) => readableCall(c.name, c.arguments));
  if (!same(calls, mine)) {
    const gone = calls.filter((c) => !mine.includes(c));
    const added = mine.filter((c) => !calls.includes(c));
    changes.push(`calls: ${[...gone.map((c) => `− ${c}`), ...added.map((c) => `+ ${c}`)].join(', ') || 'reordered'}`);
  }
  const actions = (draft.computer_actions ?? []).map(brief);
  const done = (body.computer_actions ?? []).map(brief);
  if (!same(actions, done)) changes.push(`actions: ${actions.length} → ${done.length}${done.some((a, i) => a !== actions[i]) ? ', changed' : ''}`);
  return changes.length ? `Changed from the draft: ${changes.join('; ')}` : 'Same as the draft';
}

/** Show what accepting sends, with a countdown; resolves true to send, false when undone. */
export function confirmByWaiting(draft) {
  const box = $('undo');
  clear($('undo-text')).append(el('strong', {}, 'Accepting the draft: '), ...draftLines(draft));
  box.hidden = false;
  return new Promise((resolve) => {
    let left = UNDO_S;
    const tick = () => {
      $('undo-left').textContent = `sends in ${left} s`;
    };
    tick();
    const timer = setInterval(() => {
      left -= 1;
      if (left <= 0) done(true);
      else tick();
    }, 1000);
    const onKey = (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        done(false);
      }
    };
    const undo = () => done(false);
    const now = () => done(true);
    function done(send) {
      clearInterval(timer);
      box.hidden = true;
      document.removeEventListener('keydown', onKey, true);
      $('btn-undo').removeEventListener('click', undo);
      $('btn-send-now').removeEventListener('click', now);
      resolve(send);
    }
    document.addEventListener('keydown', onKey, true);
    $('btn-undo').addEventListener('click', undo);
    $('btn-send-now').addEventListener('click', now);
  });
}
