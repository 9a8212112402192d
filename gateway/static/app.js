// Wiring: sign-in, the live event stream, the queue, the open task, history,
// the header figures and the keyboard shortcuts.
import { api, getReviewerName, onUnauthorized, setReviewerName, subscribe } from './api.js';
import { $, duration, toast, typingIn } from './dom.js';
import { Follow } from './follow.js';
import { installQueueFilter, showAgreement } from './grade.js';
import { History } from './history.js';
import { Alerts, Queue } from './queue.js';
import { Rails } from './rails.js';
import { TaskPanel } from './task.js';

const FINISHED = new Set(['task.answered', 'task.rejected', 'task.expired', 'task.cancelled']);
const STATS_MS = 30_000; // "answered in the last hour" ages even without events

const state = { me: '', auth: false, source: null, statsTimer: null, started: false, view: 'queue' };

const rails = new Rails();
const queue = new Queue($('queue'), (id) => openTask(id));
installQueueFilter(queue); // all / to answer / to grade (grade.js)
const panel = new TaskPanel({
  me: () => state.me,
  onChange: () => syncQueue(),
  onAnswered: (task, body) => {
    follow.answered(task, body);
    syncQueue(); // waiting after a screen step keeps the rails
  },
  rails: () => rails,
});
const follow = new Follow({
  find: (after) => [...queue.tasks.values()].find((t) => t.follows === after && t.status === 'pending') ?? null,
  open: async (id) => {
    rails.closeAll();
    const opened = await panel.open(id, { keepView: true });
    syncQueue();
    return opened;
  },
});
follow.box.addEventListener('change', () => syncQueue());
const history = new History(report);
const alerts = new Alerts($('opt-notify'), $('opt-sound'));

function report(error) {
  if (error?.status === 401) return;
  toast(error?.message ?? String(error));
}

function syncQueue() {
  queue.openId = panel.id;
  queue.render();
  // Rails while following a screen task, and while waiting for its next step (so the
  // screenshot keeps its place from one step to the next).
  rails.set(follow.box.checked && state.view === 'queue' && (panel.screen || (follow.waiting && follow.kind === 'screen')));
}

async function openTask(id) {
  rails.closeAll(); // a rail opened to pick the task folds back
  showView('queue');
  follow.stop(false);
  await panel.open(id);
  syncQueue();
}

// -- sign-in ------------------------------------------------------------------------

function showLogin(message = '') {
  stop();
  $('login').hidden = false;
  $('main').hidden = true;
  for (const id of ['views', 'stats', 'prefs']) $(id).hidden = true;
  $('login-error').textContent = message;
  $('login-token').focus();
}

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    const me = await api.login($('login-token').value);
    $('login-token').value = '';
    await start(me);
  } catch (error) {
    $('login-error').textContent = error.status === 401 ? 'That token is not valid.' : error.message;
  }
});

$('btn-logout').addEventListener('click', async () => {
  if (panel.id) await panel.close(true);
  await api.logout().catch(() => {});
  showLogin('Signed out.');
});

onUnauthorized(() => showLogin(state.started ? 'Your session ended: sign in again.' : ''));

// -- start and stop -------------------------------------------------------------------

async function start(me) {
  state.me = me.reviewer;
  state.auth = me.auth;
  state.started = true;
  queue.me = state.me;
  $('login').hidden = true;
  $('main').hidden = false;
  for (const id of ['views', 'stats', 'prefs']) $(id).hidden = false;
  $('btn-logout').hidden = !me.auth;
  $('reviewer-name').hidden = me.auth;
  $('reviewer-name').value = getReviewerName();
  $('me').textContent = me.auth ? `signed in as ${me.reviewer}` : '';
  showView('queue');
  connect();
  await reloadQueue();
  refreshStats();
  state.statsTimer = setInterval(refreshStats, STATS_MS);
  await panel.restore();
  await openLinked();
  syncQueue();
}

/** A link from a webhook message: /#task=<id> opens that task. */
async function openLinked() {
  const linked = /^#task=([\w-]+)$/.exec(window.location.hash);
  if (!linked || !state.started) return;
  window.history.replaceState(null, '', window.location.pathname);
  await openTask(linked[1]);
}
window.addEventListener('hashchange', () => openLinked());

function stop() {
  state.source?.close();
  state.source = null;
  clearInterval(state.statsTimer);
  setLive(false);
}

function connect() {
  state.source?.close();
  state.source = subscribe(onEvent, async (live, closed) => {
    setLive(live);
    if (live) {
      // (Re)connected: events may have been missed, so resync once.
      reloadQueue();
      refreshStats();
    } else if (closed) {
      // The browser gave up (e.g. a 401): find out why, then try again.
      try {
        await api.me();
        setTimeout(connect, 2000);
      } catch (error) {
        if (error.status === 401) showLogin('Your session ended: sign in again.');
        else setTimeout(connect, 2000);
      }
    }
  });
}

function setLive(live) {
  $('conn').textContent = live ? 'live' : 'offline';
  $('conn').classList.toggle('live', live);
}

async function reloadQueue() {
  try {
    const since = queue.mark();
    queue.load((await api.tasks({ status: ['pending', 'claimed'] })).data, since);
    syncQueue();
    follow.recheck();
    await resyncOpen();
  } catch (error) {
    report(error);
  }
}

/**
 * Events about the open task may have been missed while the stream was down (our
 * claim lapsed and someone took it, say): catch up with its state as if told.
 */
async function resyncOpen() {
  const id = panel.id;
  if (!id) return;
  const summary = queue.get(id) ?? (await api.task(id).catch(() => null));
  if (summary && panel.id === id) panel.event('resync', summary);
}

function onEvent(name, summary) {
  queue.apply(summary);
  panel.event(name, summary);
  follow.event(summary);
  if (name === 'task.created') alerts.newTask(summary);
  if (FINISHED.has(name) && state.view === 'history') history.changed();
  scheduleStats();
  syncQueue();
}

// -- header figures ---------------------------------------------------------------------

let statsSoon = null;
function scheduleStats() {
  clearTimeout(statsSoon);
  statsSoon = setTimeout(refreshStats, 250);
}

async function refreshStats() {
  try {
    const s = await api.stats();
    $('stat-pending').textContent = String(s.pending);
    $('stat-claimed').textContent = String(s.claimed);
    $('stat-answered').textContent = String(s.answered_last_hour);
    $('stat-median').textContent = s.median_answer_s === null ? '–' : duration(s.median_answer_s, true);
    showAgreement(s.agreement); // reviewers' agreement on graded answers (grade.js)
  } catch (error) {
    report(error);
  }
}

// -- views ------------------------------------------------------------------------------

function showView(view) {
  state.view = view;
  $('queue-pane').hidden = view !== 'queue';
  $('task-pane').hidden = view !== 'queue';
  $('history-pane').hidden = view !== 'history';
  $('nav-queue').classList.toggle('active', view === 'queue');
  $('nav-history').classList.toggle('active', view === 'history');
  if (view === 'history') history.load();
  syncQueue();
}

$('nav-queue').addEventListener('click', () => showView('queue'));
$('nav-history').addEventListener('click', () => showView('history'));

$('reviewer-name').addEventListener('change', () => {
  setReviewerName($('reviewer-name').value);
  state.me = getReviewerName() || 'anonymous';
  queue.me = state.me;
  syncQueue();
});

// -- help and shortcuts -------------------------------------------------------------------

const help = $('help');
const toggleHelp = (open = help.hidden) => {
  help.hidden = !open;
  if (open) $('help-close').focus();
};
$('help-open').addEventListener('click', () => toggleHelp(true));
$('help-close').addEventListener('click', () => toggleHelp(false));
help.addEventListener('click', (e) => {
  if (e.target === help) toggleHelp(false);
});

const TOOL_KEYS = { c: 'click', d: 'double_click', m: 'move', g: 'drag', s: 'scroll', t: 'type', x: 'keypress', f: 'pick' };
// Alt + a letter acts anywhere, even while typing (read by the key's place, e.code, so
// Option on a Mac works too). The bare letters that act (a e l r h q) act only while
// the reply box is empty and unfocused, and never on a task where the person types.
const ALT_KEYS = { KeyA: 'a', KeyE: 'e', KeyL: 'l', KeyR: 'r', KeyH: 'h', KeyQ: 'q', KeyN: 'n', KeyJ: 'j', KeyK: 'k' };
const ACTING = new Set(['a', 'e', 'l', 'r', 'h', 'q']);

/** One shortcut, by its letter; true when it did something. */
function command(key, e) {
  const inTask = Boolean(panel.id) && state.view === 'queue';
  if (key === 'q') {
    if (state.view === 'queue' && rails.active) rails.toggle('queue');
    else showView('queue');
    return true;
  }
  if (key === 'h') return showView('history'), true;
  if (state.view !== 'queue') return false;
  if (key === 'n') {
    const next = queue.nextFree();
    if (next) openTask(next.id);
    return true;
  }
  if (key === 'j' || key === 'k') return queue.move(key === 'j' ? 1 : -1), true;
  if (!inTask || panel.readOnly) return false;
  if (key === 'a') panel.acceptDraft();
  else if (key === 'e') panel.editDraft();
  else if (key === 'l') panel.close(true);
  else if (key === 'r') {
    e.preventDefault();
    $('reject-reason').focus();
  } else return false;
  return true;
}

document.addEventListener('keydown', (e) => {
  if (!state.started || !$('login').hidden) return;
  if (!help.hidden) {
    if (e.key === 'Escape' || e.key === '?' || e.key === 'F1') {
      e.preventDefault();
      toggleHelp(false);
    }
    return;
  }
  if (e.key === 'F1') {
    e.preventDefault();
    return toggleHelp(true);
  }
  const inTask = Boolean(panel.id) && state.view === 'queue';
  if ((e.ctrlKey || e.metaKey) && e.key === 'Enter' && inTask) {
    e.preventDefault();
    panel.submit();
    return;
  }
  if (e.altKey && !e.ctrlKey && !e.metaKey && ALT_KEYS[e.code]) {
    e.preventDefault();
    command(ALT_KEYS[e.code], e);
    return;
  }
  // No single-letter shortcut while the focus is in a text field or the key capture.
  if (typingIn(e.target)) {
    if (e.key === 'Escape') e.target.blur();
    return;
  }
  if (e.key === 'Escape' && follow.waiting) {
    follow.stop();
    return;
  }
  if ((e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === 'z' && inTask) {
    e.preventDefault();
    panel.workspace.undo();
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const key = e.key;
  // On a task without a screenshot to act on, a printable key goes where the person
  // types (the reply box), never to a shortcut: "Thanks" typed with the focus nowhere
  // is text, not History and an accept.
  // A view of its own (an MCP permission prompt, a question's options) has its keys first.
  if (inTask && !panel.readOnly && panel.special?.key(key)) return e.preventDefault();
  if (inTask && key.length === 1 && panel.typeKey(e)) return;
  if (key === '?') return toggleHelp(true);
  if (ACTING.has(key) && inTask && !panel.replyIdle()) return;
  if (key === 'q' || key === 'h' || key === 'n' || key === 'j' || key === 'k') return void command(key, e);
  if (state.view !== 'queue') return;
  if (key === '\\') {
    if (inTask) panel.toggleSide();
    return;
  }
  if (key === 'Enter' && queue.selectedId && !(e.target instanceof HTMLButtonElement)) {
    return openTask(queue.selectedId);
  }
  if (!inTask || panel.readOnly) return;
  const ws = panel.workspace;
  if (TOOL_KEYS[key]) {
    e.preventDefault();
    ws.setTool(TOOL_KEYS[key]);
  } else if (key === 'w') ws.add({ type: 'wait' });
  else if (key === 'p') ws.add({ type: 'screenshot' });
  else if (key === '+' || key === '=') ws.zoomCentre(1.25);
  else if (key === '-') ws.zoomCentre(0.8);
  else if (key === '0') ws.fit();
  else if (key === '1') ws.actualSize();
  else command(key, e);
});

// -- boot -------------------------------------------------------------------------------------

async function boot() {
  try {
    await start(await api.me());
  } catch (error) {
    if (error.status === 401) showLogin();
    else {
      $('login').hidden = false;
      $('login-error').textContent = `The gateway is not reachable: ${error.message}`;
    }
  }
}

boot();
