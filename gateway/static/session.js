// A session's trajectory in the history detail: its steps in order, each one a
// link to that task. Data from GET /api/sessions/{id}; text via textContent only.
import { api } from './api.js';
import { clear, duration, el } from './dom.js';

/** Fill ``container`` with the steps of ``session``; ``onPick(taskId)`` opens one. */
export async function renderSession(container, session, currentId, onPick) {
  let trajectory;
  try {
    trajectory = await api.session(session);
  } catch (error) {
    clear(container).append(el('p', { class: 'muted' }, `Session unavailable: ${error.message}`));
    return;
  }
  const steps = trajectory.steps.map((step) => {
    const label = [
      `step ${step.step + 1}`,
      step.status,
      step.verdict ? `draft ${step.verdict}` : null,
      step.reviewer ? `by ${step.reviewer}` : null,
      step.seconds === null ? null : duration(step.seconds, true),
    ].filter(Boolean).join(' · ');
    const current = step.task_id === currentId;
    const button = el('button', { type: 'button', class: 'link', 'data-task': step.task_id, disabled: current }, label);
    button.addEventListener('click', () => onPick(step.task_id));
    return el('li', { class: current ? 'current' : undefined }, button);
  });
  clear(container).append(
    el('p', { class: 'muted' }, `${trajectory.steps_count} steps · ${trajectory.models.join(', ')}`),
    el('ol', { class: 'session-steps' }, ...steps),
  );
}
