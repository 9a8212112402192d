// Marks for computer actions, drawn in SVG over a screenshot (the workspace) or a
// thumbnail (the timeline). A mark never hides its target: a thin crosshair with
// a gap at the exact point, and the number in a tag set off to the upper right.
// Each kind looks different: right and middle clicks say so in their tag, a double
// click has a ring, a drag a path with an arrowhead, a scroll an arrow with its
// direction and amount, a move a dashed ring. Type and keypress have no place on
// the screen; they keep their number in the list.

const SVG = 'http://www.w3.org/2000/svg';

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) if (child) node.append(child);
  return node;
}

/** The point an action is aimed at (a drag's start), or null for type, keypress, wait. */
export function anchor(action) {
  if (action?.type === 'drag') return Array.isArray(action.path) && action.path.length ? action.path[0] : null;
  return Number.isFinite(action?.x) && Number.isFinite(action?.y) ? action : null;
}

function tagText(action, number) {
  const n = String(number);
  switch (action.type) {
    case 'click':
      return action.button === 'right' ? `${n} right` : action.button === 'wheel' || action.button === 'middle' ? `${n} middle` : action.button && action.button !== 'left' ? `${n} ${action.button}` : n;
    case 'double_click':
      return `${n} ×2`;
    case 'move':
      return `${n} move`;
    case 'scroll': {
      const sx = action.scroll_x ?? 0;
      const sy = action.scroll_y ?? 0;
      const arrow = Math.abs(sy) >= Math.abs(sx) ? (sy < 0 ? '↑' : '↓') : sx < 0 ? '←' : '→';
      return `${n} ${arrow}${Math.abs(Math.abs(sy) >= Math.abs(sx) ? sy : sx)}`;
    }
    case 'drag':
      return `${n} drag`;
    default:
      return n;
  }
}

function kindClass(action) {
  if (action.type !== 'click') return action.type;
  if (action.button === 'right') return 'click right';
  if (action.button === 'wheel' || action.button === 'middle') return 'click middle';
  return 'click';
}

/** Four short strokes around (x, y), leaving the point itself clear. */
function crosshair(x, y, reach, gap) {
  const d = `M${x - reach} ${y}H${x - gap}M${x + gap} ${y}H${x + reach}M${x} ${y - reach}V${y - gap}M${x} ${y + gap}V${y + reach}`;
  return [svg('path', { d, class: 'halo' }), svg('path', { d, class: 'ink' })];
}

function arrowHead(from, to, size) {
  const angle = Math.atan2(to.y - from.y, to.x - from.x);
  const left = { x: to.x - size * Math.cos(angle - 0.45), y: to.y - size * Math.sin(angle - 0.45) };
  const right = { x: to.x - size * Math.cos(angle + 0.45), y: to.y - size * Math.sin(angle + 0.45) };
  return svg('polygon', { points: `${to.x},${to.y} ${left.x},${left.y} ${right.x},${right.y}`, class: 'head' });
}

/**
 * Draw the marks of ``actions`` into ``root`` (an SVG), replacing what was there.
 * ``toView(p)`` maps a display point to the SVG's coordinates. ``small`` draws for
 * a thumbnail. ``hot`` is the index of the action to highlight. Returns the points
 * drawn, [{index, x, y}], for hit tests.
 */
export function drawMarks(root, actions, toView, { small = false, hot = -1 } = {}) {
  root.replaceChildren();
  const reach = small ? 6 : 11;
  const gap = small ? 2 : 3;
  const points = [];
  actions.forEach((action, index) => {
    const at = anchor(action);
    if (!at) return;
    const p = toView(at);
    const g = svg('g', { class: `mark ${kindClass(action)}${index === hot ? ' hot' : ''}`, 'data-n': index + 1 });
    if (action.type === 'drag') {
      const path = action.path.map(toView);
      const pts = path.map((q) => `${q.x},${q.y}`).join(' ');
      g.append(svg('polyline', { points: pts, class: 'halo' }), svg('polyline', { points: pts, class: 'ink' }));
      if (path.length >= 2) g.append(arrowHead(path[path.length - 2], path[path.length - 1], small ? 6 : 10));
    }
    if (action.type === 'move') {
      g.append(svg('circle', { cx: p.x, cy: p.y, r: reach * 0.6, class: 'ring dashed' }));
    } else {
      g.append(...crosshair(p.x, p.y, reach, gap));
    }
    if (action.type === 'double_click') g.append(svg('circle', { cx: p.x, cy: p.y, r: reach * 0.7, class: 'ring' }));
    if (action.type === 'scroll') {
      const sx = Math.sign(action.scroll_x ?? 0);
      const sy = Math.sign(action.scroll_y ?? 0);
      const length = reach * 2.4;
      const end = { x: p.x + sx * length, y: p.y + sy * length };
      if (sx || sy) {
        g.append(svg('line', { x1: p.x + sx * gap * 2, y1: p.y + sy * gap * 2, x2: end.x, y2: end.y, class: 'ink arrow' }));
        g.append(arrowHead(p, end, small ? 5 : 8));
      }
    }
    // A transparent disc: what a hit test (or a test's bounding box) finds, centred on the point.
    g.append(svg('circle', { cx: p.x, cy: p.y, r: reach, class: 'hit' }));
    const text = tagText(action, index + 1);
    const h = small ? 11 : 16;
    const w = (small ? 5.5 : 7.5) * text.length + (small ? 5 : 8);
    const tx = p.x + (small ? 4 : 7);
    const ty = p.y - (small ? 4 : 7) - h;
    g.append(
      svg('rect', { x: tx, y: ty, width: w, height: h, rx: 3, class: 'tag' }),
      svg('text', { x: tx + w / 2, y: ty + h / 2, class: 'tag-text' }, document.createTextNode(text)),
    );
    root.append(g);
    points.push({ index, x: p.x, y: p.y });
  });
  return points;
}
