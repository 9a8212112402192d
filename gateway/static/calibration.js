// The calibration panel: per hybrid model, how reviewers' verdicts track the
// model's confidence. The chart is an SVG drawn by the server from numbers only,
// shown through an <img> (an image cannot run script).
import { api } from './api.js';
import { $, clear, el } from './dom.js';

const pct = (x) => (x === null || x === undefined ? '–' : `${Math.round(x * 100)}%`);

export class CalibrationPanel {
  constructor(onError) {
    this.onError = onError;
    this.panel = $('calibration-panel');
    this.body = $('calibration-body');
    this.url = null;
    this.panel.addEventListener('toggle', () => {
      if (this.panel.open) this.load();
    });
  }

  async load() {
    let report;
    let chart;
    try {
      [report, chart] = await Promise.all([api.calibration(), api.calibrationChart()]);
    } catch (error) {
      this.onError(error);
      return;
    }
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = URL.createObjectURL(new Blob([chart], { type: 'image/svg+xml' }));
    const rows = report.data.map((m) =>
      el(
        'tr',
        {},
        el('td', { class: 'mono' }, m.model),
        el('td', {}, String(m.samples)),
        el('td', {}, pct(m.samples ? m.approved / m.samples : null)),
        el('td', {}, m.current === null ? '–' : String(m.current)),
      ),
    );
    clear(this.body).append(
      el('table', { class: 'calibration-table' },
        el('thead', {}, el('tr', {}, el('th', {}, 'Model'), el('th', {}, 'Reviewed drafts'), el('th', {}, 'Approved'), el('th', {}, 'min_confidence'))),
        el('tbody', {}, ...rows)),
      el('img', { id: 'calibration-chart', src: this.url, alt: 'Reliability curve, escalation and error rates by min_confidence' }),
      el('p', { class: 'muted' }, 'Dots: share of drafts approved unchanged per confidence bin. Lines: escalation and error rates each min_confidence would have given. hitl-gateway report --target-error R suggests a threshold.'),
    );
  }
}
