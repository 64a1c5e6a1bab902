// The Switchboard console: a small hand-written module over the Messaging API
// (docs/console.md). The JWT lives in this module's memory only: never in storage or a
// cookie, so a reload signs out and no other page can send it (no CSRF to defend).

const state = { token: null, me: null, statuses: new Map(),
                listeners: new Set(), arrivals: new Set(), stream: null, scope: null };
const RANK = { Queued: 0, Sending: 1, Sent: 2, Delivered: 3, Read: 4, Failed: 5 };
const STATUS_WORDS = Object.keys(RANK);
const main = document.getElementById('main');

// ---- DOM: elements are built, never parsed from strings, so API text stays text ----
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function table(headings, rows) {
  return h('div', { class: 'table' }, h('table', {},
    h('thead', {}, h('tr', {}, headings.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows)));
}

function statusCell(word) {
  return h('span', { class: `status status-${word}` }, word);
}

function say(text, failed = false) {
  const live = document.getElementById('live');
  live.textContent = text;
  live.classList.toggle('error', failed);
}

// ---- timers that end with the page (or the panel) that started them ----
function scope(parent) {
  const own = { timers: [], children: [], closers: [], closed: false };
  own.every = (ms, fn) => { own.timers.push(setInterval(fn, ms)); };
  own.later = (ms, fn) => { own.timers.push(setTimeout(fn, ms)); };
  own.child = () => { const c = scope(); own.children.push(c); return c; };
  own.close = () => {
    own.closed = true;
    own.timers.forEach((t) => { clearInterval(t); clearTimeout(t); });
    own.children.forEach((c) => c.close());
    own.closers.forEach((fn) => fn());
  };
  if (parent) parent.children.push(own);
  return own;
}

// ---- the API: every refusal shows the API's own message and code ----
class ApiFailure extends Error {
  constructor(status, body) {
    super(body && body.message ? `${body.message} (${body.error || status})`
                               : `The gateway answered HTTP ${status}`);
    this.status = status;
    this.code = body && body.error;
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers,
                              body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiFailure(0, { message: `The gateway did not answer: ${err.message}`,
                              error: 'NETWORK' });
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const failure = new ApiFailure(res.status, data);
    if (res.status === 401 && state.token) signOut(failure.message);
    throw failure;
  }
  return data;
}

function errorLine() { return h('p', { class: 'error', role: 'alert' }); }

function showError(line, err) { line.textContent = err.message; }

// A form of labelled fields; `submit(values)` may throw an ApiFailure, shown below it.
function form(fields, label, submit) {
  const error = errorLine();
  const button = h('button', { type: 'submit' }, label);
  const inputs = fields.map((f) => {
    const id = `f-${f.name}-${Math.random().toString(36).slice(2, 8)}`;
    let input;
    if (f.options) {
      input = h('select', { id, name: f.name },
        f.options.map(([value, text]) => h('option', { value }, text)));
    } else if (f.type === 'textarea') {
      input = h('textarea', { id, name: f.name, required: f.required, placeholder: f.placeholder });
    } else {
      input = h('input', { id, name: f.name, type: f.type || 'text', required: f.required,
                           autocomplete: f.autocomplete || 'off', value: f.value,
                           placeholder: f.placeholder, min: f.min, inputmode: f.inputmode });
    }
    return h('label', { for: id }, f.label, input);
  });
  const el = h('form', {}, inputs, button);
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    const values = Object.fromEntries(new FormData(el).entries());
    button.disabled = true;
    try { await submit(values, el); } catch (err) { showError(error, err); }
    finally { button.disabled = false; }
  });
  return h('div', {}, el, error);
}

function action(label, run, attrs = {}) {
  return h('button', { type: 'button', class: 'plain', ...attrs, onclick: async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    try { await run(); } catch (err) { say(err.message, true); }
    finally { button.disabled = false; }
  } }, label);
}

// ---- live message statuses: the SSE stream read with fetch (it needs the header) ----
function noteStatus(queueId, word, error) {
  const known = state.statuses.get(queueId);
  if (known && RANK[known.status] >= RANK[word]) return;
  state.statuses.set(queueId, { status: word, error });
  state.listeners.forEach((fn) => fn(queueId, word, error));
}

function onStatus(fn, pageScope) {
  state.listeners.add(fn);
  pageScope.closers.push(() => state.listeners.delete(fn));
}

function handleEvent(block) {
  let kind = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) kind = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).trim());
  }
  if (!data.length) return;
  const body = JSON.parse(data.join('\n'));
  if (kind === 'message.status') noteStatus(body.queue_id, body.status, body.error_message);
  if (kind === 'message.received') state.arrivals.forEach((fn) => fn(body));
  if (kind === 'end' && ['token_expired', 'unauthorized'].includes(body.reason)) {
    signOut(`Signed out: the live stream ended (${body.reason})`);
  }
}

async function openStream() {
  const control = new AbortController();
  state.stream = control;
  try {
    const res = await fetch('/api/messages/stream', { signal: control.signal,
      headers: { Authorization: `Bearer ${state.token}`, Accept: 'text/event-stream' } });
    if (!res.ok) {
      const body = await res.json().catch(() => null);
      say(`Live updates unavailable: ${new ApiFailure(res.status, body).message}`);
    } else {
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        if (buffer.includes(': connected')) say('Live updates on');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          handleEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    }
  } catch (err) {
    if (control.signal.aborted) return;
  }
  if (state.stream === control && state.token) {
    say('Live updates reconnecting');
    setTimeout(() => { if (state.stream === control) openStream(); }, 3000);
  }
}

// ---- sign in and out ----
async function signIn(values) {
  const reply = await api('POST', '/api/auth/login',
                          { username: values.username, password: values.password });
  state.token = reply.access_token;
  state.me = reply;
  document.getElementById('who').textContent = `${reply.username}${reply.is_admin ? ' (admin)' : ''}`;
  document.getElementById('nav').hidden = false;
  document.getElementById('nav-admin').hidden = !reply.is_admin;
  document.getElementById('signout').hidden = false;
  openStream();
  location.hash = '#/instances';
  route();
}

function signOut(why) {
  state.token = null;
  state.me = null;
  if (state.stream) state.stream.abort();
  state.stream = null;
  state.statuses.clear();
  document.getElementById('nav').hidden = true;
  document.getElementById('signout').hidden = true;
  document.getElementById('who').textContent = '';
  say(why || 'Signed out');
  location.hash = '#/signin';
  route();
}

function pageSignIn() {
  return [h('h1', { tabindex: '-1' }, 'Sign in'),
    h('p', { class: 'note' }, 'With your Messaging API account. The token stays in this ' +
      'tab\'s memory: reloading the page signs you out.'),
    form([{ name: 'username', label: 'Username', required: true, autocomplete: 'username' },
          { name: 'password', label: 'Password', type: 'password', required: true,
            autocomplete: 'current-password' }], 'Sign in', signIn)];
}

// ---- instances ----
function subscriptionText(s) {
  if (!s) return 'not started yet (billing starts it on first use)';
  return `${s.type}, ${s.period}: ${s.messagesUsed} of ${s.monthlyQuota} used, ` +
    `${s.messagesRemaining} left; term ${s.startDate} to ${s.endDate}; ` +
    `${s.isActive ? 'active' : 'inactive'}${s.isExpired ? ', expired' : ''}` +
    `${s.autoRenew ? ', renews itself' : ''}`;
}

function statusList(info) {
  const err = info.lastError ? `${info.lastError.reason} (at ${info.lastError.at})` : 'none';
  return h('dl', {},
    h('dt', {}, 'Status'), h('dd', { 'data-field': 'status' }, statusCell(info.status)),
    h('dt', {}, 'WhatsApp number'), h('dd', {}, info.whatsappNumber ? `+${info.whatsappNumber}` : 'none'),
    h('dt', {}, 'Connected since'), h('dd', {}, info.connectedAt || 'never'),
    h('dt', {}, 'Last error'), h('dd', { 'data-field': 'last-error' }, err),
    h('dt', {}, 'Quota and subscription'), h('dd', {}, subscriptionText(info.subscription)));
}

function instancePanel(instanceId, name, panelScope, refreshList) {
  const base = `/api/instances/${encodeURIComponent(instanceId)}`;
  const details = h('div', { 'aria-live': 'polite' }, 'Loading');
  const qr = h('div', { class: 'qr' });
  const extra = h('div');
  let shownStatus = null;
  let qrScope = null;

  async function refresh() {
    const info = await api('GET', `${base}/status`);
    details.replaceChildren(statusList(info));
    if (info.status === 'Connected' && qrScope) {
      qrScope.close();
      qrScope = null;
      qr.replaceChildren(h('p', {}, `Linked: +${info.whatsappNumber} is Connected.`));
    }
    if (shownStatus !== info.status) {  // announced by the details' aria-live region
      shownStatus = info.status;
      refreshList();
    }
  }

  async function showQr() {
    if (qrScope) qrScope.close();
    qrScope = panelScope.child();
    const mine = qrScope;
    const code = await api('GET', `${base}/qrcode`);
    if (mine.closed) return;
    qr.replaceChildren(
      h('img', { src: code.qrCode, alt: 'QR code: scan it in WhatsApp, Linked devices' }),
      h('p', { class: 'note' }, `Scan it with WhatsApp on the phone (Settings, Linked devices). ` +
        `This code is valid for ${code.expiresIn} s; a new one replaces it then.`));
    // the gateway hands out the same code until 5 s before it expires, a new one after
    mine.later(Math.max(1, code.expiresIn - 4) * 1000, () => showQr().catch((err) => {
      qr.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message));
    }));
  }

  const pairing = form([{ name: 'phone_number', label: 'Phone number (international)', required: true,
              inputmode: 'tel' }], 'Get a pairing code', async (values) => {
      const reply = await api('POST', `${base}/pairing-code`, { phone_number: values.phone_number });
      const code = `${reply.pairing_code.slice(0, 4)}-${reply.pairing_code.slice(4)}`;
      extra.replaceChildren(h('p', { class: 'secret' }, 'Pairing code: ',
        h('strong', { 'data-field': 'pairing-code' }, code),
        ` (valid ${reply.expires_in} s). On the phone ${values.phone_number}: WhatsApp, ` +
        'Linked devices, Link a device, Link with phone number instead.'));
    });

  panelScope.every(1000, () => refresh().catch((err) => say(err.message)));
  refresh().catch((err) => { details.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message)); });
  return h('section', { 'aria-labelledby': 'instance-heading' },
    h('h2', { id: 'instance-heading' }, `Instance ${name} (${instanceId})`), details,
    h('div', { class: 'row' },
      action('Link with a QR code', showQr),
      action('Restart', async () => { say((await api('POST', `${base}/restart`)).message); }),
      action('Log out', async () => { say((await api('POST', `${base}/logout`)).message); }),
      action('Delete', async () => {
        if (!confirm(`Delete instance ${name}? Its key pair stops working.`)) return;
        say((await api('DELETE', base)).message);
        location.hash = '#/instances';
        route();
      })),
    qr, pairing, extra);
}

async function instanceRows(instances) {
  const infos = await Promise.all(instances.map(
    (i) => api('GET', `/api/instances/${encodeURIComponent(i.instance_id)}/status`)
      .catch((err) => ({ status: err.code || 'unknown' }))));
  return infos;
}

function pageInstances(pageScope) {
  const list = h('div', {}, 'Loading');
  const panel = h('div');
  const created = h('div', { 'aria-live': 'polite' });
  let panelScope = null;

  function open(instanceId, name) {
    if (panelScope) panelScope.close();
    panelScope = pageScope.child();
    panel.replaceChildren(instancePanel(instanceId, name, panelScope, load));
  }

  async function load() {
    const page = await api('GET', '/api/instances?per_page=100');
    const infos = await instanceRows(page.instances);
    list.replaceChildren(page.instances.length ? table(
      ['Name', 'Instance id', 'Status', 'Number', ''],
      page.instances.map((i, n) => h('tr', { 'data-instance': i.instance_id },
        h('td', {}, i.instance_name), h('td', {}, i.instance_id),
        h('td', {}, statusCell(infos[n].status)),
        h('td', {}, infos[n].whatsappNumber ? `+${infos[n].whatsappNumber}` : ''),
        h('td', {}, h('button', { type: 'button', class: 'plain',
          'aria-label': `Open ${i.instance_name}`,
          onclick: () => open(i.instance_id, i.instance_name) }, 'Open')))))
      : h('p', {}, 'No instances yet.'));
  }

  load().catch((err) => list.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message)));
  return [h('h1', { tabindex: '-1' }, 'Instances'),
    h('section', { 'aria-labelledby': 'create-heading' },
      h('h2', { id: 'create-heading' }, 'Create an instance'),
      form([{ name: 'instance_name', label: 'Instance name', required: true }], 'Create',
        async (values, el) => {
          const made = await api('POST', '/api/instances', { instance_name: values.instance_name });
          el.reset();
          created.replaceChildren(h('div', { class: 'secret' },
            h('p', {}, `${made.message}: ${made.instance_name} (${made.instance_id}).`),
            h('p', {}, `Public key: ${made.public_key}`),
            h('p', {}, `Secret key: ${made.secret_key}`),
            h('p', { class: 'note' }, 'The secret key is shown only now: keep it for the Instance API.')));
          await load();
          open(made.instance_id, made.instance_name);
        }), created),
    h('section', { 'aria-labelledby': 'list-heading' },
      h('h2', { id: 'list-heading' }, 'Your instances'), list),
    panel];
}

// ---- messages ----
const COUNTED = ['queued', 'sending', 'sent', 'delivered', 'read', 'failed'];

function countList(counts, total) {
  return h('ul', { class: 'counts', 'aria-label': 'Counts' },
    COUNTED.map((k) =>
      h('li', { 'data-count': k }, `${k[0].toUpperCase()}${k.slice(1)}: ${counts[k] || 0}`)),
    h('li', { 'data-count': 'total' }, `Total: ${total}`));
}

// A bulk request as one job: the counts of GET /api/messages/bulk/{job_id} when the
// gateway serves it, else counted here from the live statuses of the reply's queue_ids.
function bulkJob(reply, numbers, pageScope) {
  const box = h('div', { 'aria-live': 'polite' });
  const ids = reply.queue_ids || [];
  const jobPath = reply.job_id ? `/api/messages/bulk/${encodeURIComponent(reply.job_id)}` : null;
  let useJob = Boolean(jobPath);
  const statusOf = (id) => (state.statuses.get(id) || { status: 'Queued' }).status;

  async function counted() {
    if (useJob) {
      try {
        const job = await api('GET', jobPath);
        return [job, job.total];
      } catch (err) {
        if (err.status !== 404) throw err;
        useJob = false;
      }
    }
    const counts = {};
    ids.forEach((id) => {
      const key = statusOf(id).toLowerCase();
      counts[key] = (counts[key] || 0) + 1;
    });
    return [counts, ids.length];
  }

  async function render() {
    const [counts, total] = await counted();
    box.replaceChildren(countList(counts, total),
      h('details', {}, h('summary', {}, 'Messages of this job'),
        table(['Queue id', 'Number', 'Status'], ids.map((id, n) => h('tr', {},
          h('td', {}, id), h('td', {}, numbers[n] || ''), h('td', {}, statusCell(statusOf(id))))))));
  }
  pageScope.every(1000, () => render().catch((err) => say(err.message)));
  render().catch((err) => say(err.message));
  return h('section', { class: 'job', 'aria-label': 'Bulk job' },
    h('h2', {}, reply.job_id ? `Bulk job ${reply.job_id}` : 'Bulk job'),
    h('p', {}, reply.message), box);
}

function historyTable(pageScope) {
  const out = h('div', {}, 'Loading');
  const nav = h('div', { class: 'row' });
  let query = {};
  let page = 1;

  async function load() {
    const params = new URLSearchParams({ page: String(page), per_page: '20' });
    for (const [k, v] of Object.entries(query)) if (v) params.set(k, v);
    const found = await api('GET', `/api/messages/messages?${params}`);
    found.messages.forEach((m) => noteStatus(m.queue_id, m.status, null));
    out.replaceChildren(found.messages.length ? table(
      ['Queue id', 'Number', 'Message', 'Status', 'Created'],
      found.messages.map((m) => h('tr', { 'data-queue': m.queue_id },
        h('td', {}, m.queue_id), h('td', {}, m.number), h('td', {}, m.message),
        h('td', { 'data-field': 'status' }, statusCell(state.statuses.get(m.queue_id).status)),
        h('td', {}, m.created_at))))
      : h('p', {}, 'No messages match.'));
    const p = found.pagination;
    nav.replaceChildren(h('span', {}, `Page ${p.page} of ${Math.max(p.pages, 1)}, ${p.total} messages`),
      action('Previous page', async () => { page -= 1; await load(); }, { disabled: p.page <= 1 }),
      action('Next page', async () => { page += 1; await load(); }, { disabled: p.page >= p.pages }));
  }

  onStatus((queueId, word) => {
    const cell = out.querySelector(`tr[data-queue="${CSS.escape(queueId)}"] [data-field="status"]`);
    if (cell) cell.replaceChildren(statusCell(word));
  }, pageScope);
  load().catch((err) => out.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message)));
  const filters = form([
    { name: 'status', label: 'Status', options: [['', 'Any'], ...STATUS_WORDS.map((w) => [w, w])] },
    { name: 'number', label: 'Number', inputmode: 'tel' },
    { name: 'since', label: 'Since', type: 'date' },
    { name: 'until', label: 'Until (that whole day)', type: 'date' }], 'Filter',
  async (values) => { query = values; page = 1; await load(); });
  return [filters, nav, out];
}

// Messages received on the user's numbers; the section goes away on a gateway that does
// not serve the inbox (404).
function inboxTable(pageScope) {
  const out = h('div', {}, 'Loading');
  const section = h('section', { 'aria-labelledby': 'inbox-heading' },
    h('h2', { id: 'inbox-heading' }, 'Received'), out);
  const inboxScope = pageScope.child();
  async function load() {
    const found = await api('GET', '/api/messages/inbox?per_page=20');
    out.replaceChildren(found.messages.length ? table(
      ['From', 'To', 'Type', 'Message', 'Received'],
      found.messages.map((m) => h('tr', { 'data-received': m.message_id },
        h('td', {}, m.from), h('td', {}, m.to), h('td', {}, m.type),
        h('td', {}, m.message || '', m.media_url ? ` (media: ${m.media_url})` : ''),
        h('td', {}, m.received_at))))
      : h('p', {}, 'Nothing received yet.'));
  }
  function failed(err) {
    if (err.status === 404) {
      inboxScope.close();
      section.remove();
    } else out.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message));
  }
  const arrived = () => load().catch(failed);
  state.arrivals.add(arrived);  // the stream says when a message arrives
  inboxScope.closers.push(() => state.arrivals.delete(arrived));
  inboxScope.every(10000, arrived);
  arrived();
  return section;
}

function pageMessages(pageScope) {
  const sent = h('div', { 'aria-live': 'polite' });
  const jobs = h('div');
  let tracked = null;
  onStatus((queueId, word, error) => {
    if (queueId !== tracked) return;
    const cell = sent.querySelector('[data-field="status"]');
    if (cell) cell.replaceChildren(statusCell(word), error ? ` ${error}` : '');
  }, pageScope);

  const single = form([
    { name: 'number', label: 'Number (international)', required: true, inputmode: 'tel' },
    { name: 'message', label: 'Message', required: true, value: 'Hello from Switchboard' }],
  'Send', async (values) => {
    const reply = await api('POST', '/api/messages/send-message',
                            { number: values.number, message: values.message });
    tracked = reply.queue_id;
    noteStatus(reply.queue_id, 'Queued', null);
    const known = state.statuses.get(reply.queue_id);
    sent.replaceChildren(h('dl', { 'data-queue': reply.queue_id },
      h('dt', {}, 'Queue id'), h('dd', {}, reply.queue_id),
      h('dt', {}, 'Status'), h('dd', { 'data-field': 'status' }, statusCell(known.status)),
      h('dt', {}, 'Credits left'), h('dd', {}, String(reply.remaining_credits))));
  });

  const bulk = form([
    { name: 'numbers', label: 'Numbers (one a line, or separated by commas)', type: 'textarea',
      required: true },
    { name: 'message', label: 'Message', required: true }], 'Send to all',
  async (values, el) => {
    const numbers = values.numbers.split(/[\s,;]+/).filter(Boolean);
    // the reply's queue_ids follow the distinct numbers in order of first mention
    const distinct = [...new Set(numbers.map((n) => n.replace(/\D/g, '')))];
    const reply = await api('POST', '/api/messages/send-bulk-message',
                            { numbers, message: values.message });
    el.reset();
    jobs.prepend(bulkJob(reply, distinct, pageScope));
  });

  return [h('h1', { tabindex: '-1' }, 'Messages'),
    h('section', { 'aria-labelledby': 'send-heading' },
      h('h2', { id: 'send-heading' }, 'Send a test message'), single, sent),
    h('section', { 'aria-labelledby': 'bulk-heading' },
      h('h2', { id: 'bulk-heading' }, 'Send a bulk message'), bulk), jobs,
    h('section', { 'aria-labelledby': 'history-heading' },
      h('h2', { id: 'history-heading' }, 'History'), historyTable(pageScope)),
    inboxTable(pageScope)];
}

// ---- webhooks ----
function deliveryLog(webhookId, url, logScope) {
  const out = h('div', {}, 'Loading');
  async function load() {
    const found = await api('GET', `/api/webhooks/${encodeURIComponent(webhookId)}/deliveries?limit=50`);
    out.replaceChildren(found.deliveries.length ? table(
      ['Status', 'Message', 'State', 'Attempts', 'Last answer', 'Last error', 'Next attempt', 'Created'],
      found.deliveries.map((d) => h('tr', { 'data-delivery': d.delivery_id },
        h('td', {}, d.status), h('td', {}, d.queue_id), h('td', {}, statusCell(d.state)),
        h('td', {}, String(d.attempts)), h('td', {}, d.last_status_code ?? ''),
        h('td', { class: d.last_error ? 'error' : '' }, d.last_error || ''),
        h('td', {}, d.next_attempt_at || (d.state === 'pending' ? 'after the earlier status' : '')),
        h('td', {}, d.created_at))))
      : h('p', {}, 'No deliveries yet.'));
  }
  logScope.every(2000, () => load().catch((err) => say(err.message)));
  load().catch((err) => out.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message)));
  return h('section', { 'aria-labelledby': 'log-heading' },
    h('h2', { id: 'log-heading' }, `Delivery log of ${url}`), out);
}

function pageWebhooks(pageScope) {
  const list = h('div', {}, 'Loading');
  const log = h('div');
  const created = h('div', { 'aria-live': 'polite' });
  let logScope = null;

  async function load() {
    const found = await api('GET', '/api/webhooks');
    list.replaceChildren(found.webhooks.length ? table(['URL', 'Webhook id', 'Created', ''],
      found.webhooks.map((w) => h('tr', {},
        h('td', {}, w.url), h('td', {}, w.webhook_id), h('td', {}, w.created_at),
        h('td', {}, h('div', { class: 'row' },
          action('Delivery log', async () => {
            if (logScope) logScope.close();
            logScope = pageScope.child();
            log.replaceChildren(deliveryLog(w.webhook_id, w.url, logScope));
          }, { 'aria-label': `Delivery log of ${w.url}` }),
          action('Delete', async () => {
            say((await api('DELETE', `/api/webhooks/${encodeURIComponent(w.webhook_id)}`)).message);
            log.replaceChildren();
            await load();
          }, { 'aria-label': `Delete ${w.url}` }))))))
      : h('p', {}, 'No webhooks yet.'));
  }
  load().catch((err) => list.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message)));
  return [h('h1', { tabindex: '-1' }, 'Webhooks'),
    h('section', { 'aria-labelledby': 'add-heading' },
      h('h2', { id: 'add-heading' }, 'Add a webhook'),
      h('p', { class: 'note' }, 'Every status change of your messages is POSTed there, signed.'),
      form([{ name: 'url', label: 'URL', type: 'url', required: true },
            { name: 'secret', label: 'Secret (blank: one is generated)' }], 'Add',
      async (values, el) => {
        const body = { url: values.url };
        if (values.secret) body.secret = values.secret;
        const made = await api('POST', '/api/webhooks', body);
        el.reset();
        created.replaceChildren(h('p', { class: 'secret' },
          `Signing secret of ${made.url}: ${made.secret} (shown only now)`));
        await load();
      }), created),
    h('section', { 'aria-labelledby': 'hooks-heading' },
      h('h2', { id: 'hooks-heading' }, 'Your webhooks'), list), log];
}

// ---- credits ----
function pageCredits() {
  const out = h('div', {}, 'Loading');
  Promise.all([api('GET', '/api/users/user/credits'), api('GET', '/api/users/user/profile')])
    .then(([credits, profile]) => out.replaceChildren(h('dl', {},
      h('dt', {}, 'Available credits'), h('dd', { 'data-field': 'credits' }, String(credits.credits)),
      h('dt', {}, 'User'), h('dd', {}, `${profile.username} (id ${profile.id})`),
      h('dt', {}, 'Email'), h('dd', {}, profile.email || 'none'),
      h('dt', {}, 'Member since'), h('dd', {}, profile.created_at))))
    .catch((err) => out.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message)));
  return [h('h1', { tabindex: '-1' }, 'Credits'), h('section', {}, out),
    h('p', { class: 'note' }, 'One credit a message; an admin grants credits. A message that ' +
      'fails gets its credit back.')];
}

// ---- admin ----
async function poolSection() {
  const res = await fetch('/health', { headers: { Accept: 'application/json' } });
  const health = await res.json();
  const pool = health.pool;
  return h('div', {},
    h('p', {}, `Services: ${Object.entries(health.services || {}).map(([k, v]) => `${k} ${v}`).join(', ')}`),
    pool ? h('dl', {},
      h('dt', {}, 'Transport'), h('dd', {}, pool.transport),
      h('dt', {}, 'Linked pool devices'), h('dd', {}, String(pool.linked_devices)),
      h('dt', {}, 'Available'), h('dd', {}, `${pool.available_devices} of ${pool.total_devices}`),
      h('dt', {}, 'Sends refused'), h('dd', {}, pool.empty ? 'yes: no linked pool device' : 'no'))
      : h('p', { class: 'error' }, 'The device service did not answer.'));
}

async function usersSection(reload) {
  const found = await api('GET', '/api/admin/users?per_page=100');
  const grant = form([
    { name: 'user', label: 'User', options: found.users.map((u) => [String(u.id), `${u.username} (id ${u.id})`]) },
    { name: 'amount', label: 'Credits', type: 'number', min: '1', required: true },
    { name: 'reason', label: 'Reason', required: true }], 'Grant credits',
  async (values) => {
    const reply = await api('POST', `/api/admin/users/${values.user}/credits`,
                            { amount: Number(values.amount), reason: values.reason });
    say(`${reply.message}: user ${reply.user_id} has ${reply.credits}`);
    await reload();
  });
  const change = (u, body) => async () => {
    await api('PATCH', `/api/admin/users/${u.id}`, body);
    say(`${u.username} changed`);
    await reload();
  };
  return h('div', {}, table(['Id', 'Username', 'Credits', 'Admin', 'Disabled', 'Created', ''],
    found.users.map((u) => h('tr', { 'data-user': u.username },
      h('td', {}, String(u.id)), h('td', {}, u.username), h('td', { 'data-field': 'credits' }, String(u.credits)),
      h('td', {}, u.is_admin ? 'yes' : 'no'),
      h('td', { 'data-field': 'disabled' }, u.disabled ? 'yes' : 'no'),
      h('td', {}, u.created_at),
      h('td', {}, action(u.disabled ? 'Enable' : 'Disable',
        change(u, { disabled: !u.disabled, reason: 'from the console' }),
        { 'aria-label': `${u.disabled ? 'Enable' : 'Disable'} ${u.username}` }))))),
  h('h3', {}, 'Grant credits'), grant);
}

async function devicesSection() {
  const found = await api('GET', '/api/admin/instances?per_page=100');
  const infos = await instanceRows(found.instances);
  return table(['Instance', 'Owner', 'Status', 'Number', 'Last error'],
    found.instances.map((i, n) => h('tr', {},
      h('td', {}, `${i.instance_name} (${i.instance_id})`), h('td', {}, `user ${i.user_id}`),
      h('td', {}, statusCell(infos[n].status)),
      h('td', {}, infos[n].whatsappNumber ? `+${infos[n].whatsappNumber}` : ''),
      h('td', {}, infos[n].lastError ? infos[n].lastError.reason : ''))));
}

function pageAdmin() {
  const parts = { pool: h('div', {}, 'Loading'), users: h('div', {}, 'Loading'),
                  devices: h('div', {}, 'Loading') };
  async function fill(key, make) {
    try { parts[key].replaceChildren(await make()); }
    catch (err) { parts[key].replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message)); }
  }
  const reload = () => fill('users', () => usersSection(reload));
  fill('pool', poolSection);
  reload();
  fill('devices', devicesSection);
  return [h('h1', { tabindex: '-1' }, 'Admin'),
    h('section', { 'aria-labelledby': 'pool-heading' }, h('h2', { id: 'pool-heading' }, 'The pool'), parts.pool),
    h('section', { 'aria-labelledby': 'users-heading' }, h('h2', { id: 'users-heading' }, 'Users'), parts.users),
    h('section', { 'aria-labelledby': 'devices-heading' },
      h('h2', { id: 'devices-heading' }, 'Devices (every instance)'), parts.devices)];
}

// ---- routing: #/page; a page's timers end when another page opens ----
const PAGES = { instances: pageInstances, messages: pageMessages, webhooks: pageWebhooks,
                credits: pageCredits, admin: pageAdmin };

function route() {
  if (state.scope) state.scope.close();
  state.scope = scope();
  let name = location.hash.replace(/^#\//, '');
  if (!state.token) name = 'signin';
  else if (!PAGES[name] || (name === 'admin' && !state.me.is_admin)) name = 'instances';
  const content = name === 'signin' ? pageSignIn() : PAGES[name](state.scope);
  main.replaceChildren(...[content].flat().filter(Boolean));
  document.title = `${name === 'signin' ? 'Sign in' : name[0].toUpperCase() + name.slice(1)} · Switchboard console`;
  document.querySelectorAll('#nav a').forEach((a) => {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  const heading = main.querySelector('h1');
  if (heading) heading.focus();
}

window.addEventListener('hashchange', route);
document.getElementById('signout').addEventListener('click', () => signOut('Signed out'));
route();
