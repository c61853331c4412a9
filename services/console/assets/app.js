// The operators' console. Plain script, no framework: everything it shows comes from the
// server's JSON API (/console/api/...) and its event stream; nothing is computed here
// beyond formatting.
'use strict';
(function () {
  const $ = (s, r) => (r || document).querySelector(s);
  const $$ = (s, r) => Array.from((r || document).querySelectorAll(s));
  const el = (tag, props, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('data-') || k.startsWith('aria-')) e.setAttribute(k, v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e[k] = v;
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  };

  const STATUS = {
    ORDER_STATUS_SCHEDULED: '已预约', ORDER_STATUS_PENDING: '等待派车', ORDER_STATUS_OFFERED: '派单中',
    ORDER_STATUS_ACCEPTED: '司机已接单', ORDER_STATUS_ARRIVED: '司机已到达', ORDER_STATUS_ON_TRIP: '行程中',
    ORDER_STATUS_COMPLETED: '已完成', ORDER_STATUS_CANCELLED: '已取消', ORDER_STATUS_UNFULFILLED: '未派出',
    SCHEDULED: '已预约', PENDING: '等待派车', OFFERED: '派单中', ACCEPTED: '司机已接单', ARRIVED: '司机已到达',
    ON_TRIP: '行程中', COMPLETED: '已完成', CANCELLED: '已取消', UNFULFILLED: '未派出',
  };
  const st = s => STATUS[s] || STATUS[String(s).toUpperCase()] || s;
  // Orders not yet over (a reservation, waiting, offered, on its way or on board).
  const OPEN = new Set(['ORDER_STATUS_SCHEDULED', 'ORDER_STATUS_PENDING', 'ORDER_STATUS_OFFERED', 'ORDER_STATUS_ACCEPTED', 'ORDER_STATUS_ARRIVED', 'ORDER_STATUS_ON_TRIP']);
  const REASON = {
    ELDERLY_REASON_RESIDENT_ID_AGE: '身份证年龄 60 岁以上', ELDERLY_REASON_OPERATOR_FLAG: '话务员标记',
    ELDERLY_REASON_ONE_KEY_DEVICE: '一键叫车设备',
  };
  const EVENT = {
    order_created: '新订单', order_released: '预约单进入派车', offer_made: '派单', offer_accepted: '司机接单',
    offer_declined: '司机拒单', offer_expired: '派单超时', order_requeued: '重新排队', order_assigned: '人工指派',
    taxi_arrived: '司机到达', trip_started: '行程开始', trip_completed: '行程完成', order_cancelled: '订单取消',
    order_unfulfilled: '未派出，待回访', alert_raised: '紧急求助', alert_acknowledged: '求助已受理',
    alert_resolved: '求助已处理', callback_resolved: '回访已处理', order_stuck: '行程异常', order_redispatched: '重新派车',
  };

  const state = { me: null, caller: null, view: 'call', lastId: '', es: null, audio: null, alarmed: new Set(), requestId: null };
  window.consoleSeen = {}; // order|type → when this page showed it (ms): read by the browser tests
  window.consoleAlarm = { started: 0, oscillators: 0 };

  // ---- API ----------------------------------------------------------------------------
  async function api(path, body, method) {
    const init = { method: method || (body === undefined ? 'GET' : 'POST'), credentials: 'same-origin', headers: {} };
    if (init.method !== 'GET') { init.headers['X-Console'] = '1'; init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body || {}); }
    let r;
    try { r = await fetch('/console/api/' + path, init); } catch (e) { throw { code: 'UNAVAILABLE', message: '无法连接服务器', field: null }; }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      if (r.status === 401 && path !== 'login' && path !== 'refresh' && state.me) { if (await refresh()) return api(path, body, method); showLogin(); }
      throw data.code ? data : { code: 'UNKNOWN', message: 'HTTP ' + r.status, field: null };
    }
    return data;
  }
  const rpc = (m, body) => api('rpc/taxi.v1.' + m, body || {});

  function clearErrors(root) { $$('.err', root).forEach(e => { e.textContent = ''; }); $$('[aria-invalid]', root).forEach(e => e.removeAttribute('aria-invalid')); }
  // Shows a server error next to the field it names (or the nearest enclosing one).
  function showError(root, err, fallback) {
    let f = err.field || '';
    while (f) {
      const slot = $(`.err[data-field="${CSS.escape(f)}"]`, root);
      if (slot) {
        slot.textContent = err.message;
        const input = slot.previousElementSibling;
        if (input && input.matches('input,select')) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
        return;
      }
      f = f.includes('.') ? f.slice(0, f.lastIndexOf('.')) : f.replace(/\[\d+\]$/, '') === f ? '' : f.replace(/\[\d+\]$/, '');
    }
    const slot = fallback || $('.err', root);
    slot.textContent = (err.field ? err.field + '：' : '') + (err.message || '出错了');
  }

  // ---- login --------------------------------------------------------------------------
  $('#login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    unlockAudio();
    const err = $('#login-error'); err.textContent = '';
    try {
      const me = await api('login', { username: $('#login-username').value.trim(), password: $('#login-password').value });
      $('#login-password').value = '';
      await start(me);
    } catch (e) { err.textContent = e.code === 'UNAUTHENTICATED' ? '用户名或密码错误' : (e.message || '登录失败'); }
  });
  $('#logout').addEventListener('click', async () => { try { await api('logout', {}); } catch (e) { /* ignore */ } location.reload(); });

  async function refresh() {
    try { const me = await api('refresh', {}); state.me = Object.assign(state.me || {}, me); scheduleRefresh(); return true; } catch (e) { return false; }
  }
  let refreshTimer = null;
  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    const ms = Math.max(10000, (state.me.access_expires_ms - Date.now()) * 2 / 3);
    refreshTimer = setTimeout(refresh, ms);
  }
  function showLogin() {
    $('#login').hidden = false; $('#nav').hidden = true; $('#who').hidden = true;
    $$('.view').forEach(v => { v.hidden = true; });
    if (state.es) { state.es.close(); state.es = null; }
  }

  async function start(me) {
    const info = await api('me');
    state.me = Object.assign({}, info, me);
    $('#login').hidden = true; $('#nav').hidden = false; $('#who').hidden = false;
    $('#who-text').textContent = `${state.me.city_name || state.me.city} · ${roleName(state.me.role)} ${state.me.id}`;
    scheduleRefresh();
    show(state.view);
    connect();
    reloadAll();
    loadSeat();
  }
  const roleName = r => ({ operator: '话务员', supervisor: '值班主管', auditor: '审计', fleet_admin: '车队管理' })[r] || r;

  // ---- views ----------------------------------------------------------------------------
  function show(view) {
    state.view = view;
    $$('.view').forEach(v => { v.hidden = v.id !== 'view-' + view; });
    $$('#nav button').forEach(b => { if (b.dataset.view === view) b.setAttribute('aria-current', 'page'); else b.removeAttribute('aria-current'); });
    if (view === 'map') openMap();
    if (view === 'kpi') loadKpi();
  }
  $$('#nav button').forEach(b => b.addEventListener('click', () => show(b.dataset.view)));
  document.addEventListener('keydown', (ev) => {
    if (!state.me) return;
    const keys = { F1: 'call', F2: 'lists', F3: 'map', F4: 'kpi' };
    if (keys[ev.key]) { ev.preventDefault(); if (ev.key === 'F1' && state.waitingCall) takeWaitingCall(); else show(keys[ev.key]); }
    if (ev.altKey && (ev.key === 'r' || ev.key === 'R') && state.caller) { ev.preventDefault(); repeatLast(); }
  });

  // ---- live feed ----------------------------------------------------------------------
  let reconnectTimer = null;
  function banner(on) { $('#banner').hidden = !on; }
  function connect() {
    if (state.es) state.es.close();
    const url = '/console/api/events' + (state.lastId ? '?after=' + encodeURIComponent(state.lastId) : '');
    const es = new EventSource(url);
    state.es = es;
    let watchdog = null;
    const alive = () => { clearTimeout(watchdog); watchdog = setTimeout(() => { banner(true); connect(); }, 12000); };
    es.onopen = () => { alive(); };
    es.onerror = () => {
      banner(true);
      if (es.readyState === EventSource.CLOSED) {
        // The server refused (session ended, server restarting): refresh and try again.
        clearTimeout(reconnectTimer);
        reconnectTimer = setTimeout(async () => { await refresh(); if (state.me) connect(); }, 1000);
      }
    };
    es.onmessage = alive;
    // `data-feed` says the live feed has started (the browser tests wait for it).
    es.addEventListener('hello', (e) => { alive(); banner(false); state.lastId = e.lastEventId; document.body.dataset.feed = 'open'; reloadAll(); });
    es.addEventListener('reload', (e) => { alive(); banner(false); state.lastId = e.lastEventId; reloadAll(); });
    es.addEventListener('change', (e) => { alive(); banner(false); state.lastId = e.lastEventId; onChange(JSON.parse(e.data)); });
    es.addEventListener('status', (e) => { alive(); const s = JSON.parse(e.data); banner(s.store !== 'ok'); if (s.store === 'ok') reloadAll(); });
    es.addEventListener('call', (e) => { alive(); if (e.lastEventId) state.lastId = e.lastEventId; incoming(JSON.parse(e.data)); });
    es.addEventListener('escalation', (e) => { alive(); loadEscalations(); alarm(); });
    es.addEventListener('expired', async () => { es.close(); if (await refresh()) connect(); else showLogin(); });
    es.addEventListener('open', () => banner(false));
    alive();
    // Heartbeat comments fire no event: while the link is open, the watchdog is fed here.
    const poll = setInterval(() => { if (state.es !== es) { clearInterval(poll); clearTimeout(watchdog); return; } if (es.readyState === EventSource.OPEN) alive(); }, 3000);
  }

  // At most one run per `ms`, the first 30 ms after a quiet spell: a busy city's stream of
  // events must not postpone a refresh for ever (as a debounce would) nor run one per event.
  function throttle(fn, ms) {
    let timer = null, last = 0;
    return () => {
      if (timer) return;
      timer = setTimeout(() => { timer = null; last = Date.now(); fn(); }, Math.max(30, last + ms - Date.now()));
    };
  }
  const reloadLists = throttle(() => { loadWaiting(); loadProgress(); loadCallbacks(); loadAlerts(); loadEscalations(); if (state.view === 'map') loadMap(); }, 300);
  function reloadAll() { reloadLists(); }

  function onChange(ev) {
    const key = (ev.order || ev.alert || ev.taxi || '') + '|' + ev.type;
    if (!window.consoleSeen[key]) window.consoleSeen[key] = Date.now();
    window.consoleSeen[ev.id] = Date.now();
    const li = el('li', { 'data-id': ev.id, 'data-order': ev.order || '', 'data-type': ev.type },
      `${new Date(Number(ev.ts) || Date.now()).toLocaleTimeString('zh-CN')} ${EVENT[ev.type] || ev.type} ${ev.order || ev.alert || ev.taxi || ''} ${ev.to ? '→ ' + (st(ev.to)) : ''}`);
    const list = $('#activity'); list.prepend(li); while (list.children.length > 50) list.lastChild.remove();
    if (ev.type === 'alert_raised') alarm();
    reloadLists();
    if (state.caller && ev.order) refreshCallerSoon();
  }

  // ---- incoming call --------------------------------------------------------------------
  // Every console of the city hears every call the switch classifies (the switch does not
  // say which seat it rings). The card pops by itself only on a console that is on the
  // call screen with no booking being entered; elsewhere the call waits in a notice (F1 or a click pops
  // it), so nobody loses what they were entering.
  function incoming(call) {
    if (call.routed) { state.routedCall = call.call_id; loadSeat(); }
    if (state.view === 'call' && !state.dirty) { popCall(call.phone, call.routed ? call.call_id : ''); return; }
    state.waitingCall = call;
    const note = $('#call-note');
    note.hidden = false;
    $('#call-note-text').textContent = `来电 ${call.phone}${call.elderly ? '（老年乘客）' : ''}`;
  }
  $('#call-note-take').addEventListener('click', () => takeWaitingCall());
  function takeWaitingCall() {
    $('#call-note').hidden = true;
    const call = state.waitingCall; state.waitingCall = null;
    if (call) popCall(call.phone, call.routed ? call.call_id : '');
  }
  $('#sim-form').addEventListener('submit', (ev) => { ev.preventDefault(); popCall($('#sim-phone').value.trim()); });
  async function popCall(phone, routedCall) {
    clearErrors($('#sim-form'));
    let r;
    try { r = await rpc('HotlineService/LookupCaller', { phone }); } catch (e) { showError($('#sim-form'), e); return; }
    state.caller = { phone, data: r };
    state.requestId = newRequestId();
    renderCaller();
    // A call the queue put through to this seat says so on the card.
    $('#caller-card').dataset.routed = routedCall || '';
    $('#caller-routed').hidden = !routedCall;
    show('call');
    const focus = r.known && r.recent_orders.length ? $('#repeat-last') : (r.known ? $('#bk-pickup-saved') : $('#bk-name'));
    focus.focus();
  }
  const refreshCallerSoon = throttle(async () => {
    if (!state.caller) return;
    try { state.caller.data = await rpc('HotlineService/LookupCaller', { phone: state.caller.phone }); renderCaller(true); } catch (e) { /* keep */ }
  }, 1000);
  const placeText = p => p ? (p.address || `${p.location.latitude.toFixed(5)}, ${p.location.longitude.toFixed(5)}`) : '';
  const timeText = ts => ts ? new Date(ts).toLocaleString('zh-CN', { hour12: false }) : '';
  function renderCaller(keepForm) {
    const { phone, data } = state.caller;
    const c = data.caller || {};
    const card = $('#caller-card');
    card.hidden = false; card.dataset.phone = phone;
    $('#caller-name').textContent = data.known ? (c.name || '（未留姓名）') : '新来电';
    $('#caller-phone').textContent = phone;
    const eld = $('#caller-elderly');
    eld.hidden = !(data.known && c.elderly);
    eld.textContent = c.elderly ? `老年乘客 · ${REASON[c.elderly_reason] || ''}${c.age ? ' · ' + c.age + ' 岁' : ''}` : '';
    $('#caller-unknown').hidden = data.known;
    const fill = (sel, items, fn, empty) => { const ul = $(sel); ul.replaceChildren(...(items.length ? items.map(fn) : [el('li', { class: 'muted', text: empty })])); };
    fill('#caller-places', c.saved_places || [], p => el('li', {}, `${p.name}：${placeText(p.place)}`), '无');
    // The last 3 trips: the caller's recent orders (newest first) that are over; an order
    // still open is shown under 进行中的订单, not as a trip.
    const open = data.active_order ? [data.active_order] : [];
    const trips = (data.recent_orders || []).filter(o => !OPEN.has(o.status) && !open.some(a => a.order_id === o.order_id)).slice(0, 3);
    fill('#caller-trips', trips, o => el('li', { 'data-order': o.order_id }, `${timeText(o.create_time)} ${placeText(o.pickup)} → ${placeText(o.dropoff) || '（未填目的地）'} · ${st(o.status)}`), '无');
    fill('#caller-open', open, o => el('li', { 'data-order': o.order_id }, `${o.order_id} · ${st(o.status)}${o.taxi && o.taxi.plate ? ' · ' + o.taxi.plate : ''}${o.privacy_number ? ' · 隐私号 ' + o.privacy_number : ''}${o.privacy_number_unavailable ? ' · 无隐私号：' + o.privacy_number_unavailable : ''}`), '无');
    fill('#caller-contacts', c.care_contacts || [], t => el('li', {}, t), '无');
    if (!keepForm) fillBookingForm();
  }
  function fillBookingForm() {
    const { data } = state.caller;
    const c = data.caller || {};
    const form = $('#booking'); form.hidden = false; clearErrors(form); state.dirty = false;
    $('#booking-result').textContent = '';
    $('#bk-name').value = c.name || '';
    const places = c.saved_places || [];
    const opts = (withNone) => [...(withNone ? [el('option', { value: '', text: '（不填）' })] : []), ...places.map(p => el('option', { value: p.name, text: `${p.name}：${placeText(p.place)}` })), el('option', { value: '__other', text: '其他地点…' })];
    $('#bk-pickup-saved').replaceChildren(...opts(false));
    $('#bk-dropoff-saved').replaceChildren(...opts(true).filter(o => o.value !== '__other'));
    $('#bk-pickup-other').hidden = places.length > 0;
    $('#bk-time').value = ''; $('#bk-notes').value = ''; $('#bk-pax').value = '1';
    $$('input[name=need]').forEach(i => { i.checked = (c.needs || []).includes(i.value); });
    const last = (data.recent_orders || [])[0];
    $('#repeat-last').disabled = !last;
    $('#repeat-hint').textContent = last ? `${placeText(last.pickup)} → ${placeText(last.dropoff) || '—'}` : '没有历史行程';
  }
  // Something typed or chosen in the booking form: a new call must not wipe it.
  $('#booking').addEventListener('input', () => { state.dirty = true; });
  $('#bk-pickup-saved').addEventListener('change', () => { $('#bk-pickup-other').hidden = $('#bk-pickup-saved').value !== '__other'; });
  const newRequestId = () => (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());

  async function repeatLast() {
    const form = $('#booking'); clearErrors(form);
    try {
      const r = await rpc('HotlineService/RepeatLastTrip', { caller_phone: state.caller.phone, channel: 'CHANNEL_OPERATOR', operator_id: state.me.id, request_id: state.requestId });
      booked(r.order);
    } catch (e) { showError(form, e, $('#booking-error')); }
  }
  $('#repeat-last').addEventListener('click', repeatLast);
  $('#booking').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = $('#booking'); clearErrors(form);
    const body = { caller_phone: state.caller.phone, channel: 'CHANNEL_OPERATOR', operator_id: state.me.id, request_id: state.requestId,
      passenger_count: Number($('#bk-pax').value) || 1, notes: $('#bk-notes').value, needs: $$('input[name=need]:checked').map(i => i.value) };
    if (!(state.caller.data.known)) body.passenger_name = $('#bk-name').value;
    const saved = $('#bk-pickup-saved').value;
    if (saved && saved !== '__other') body.pickup_saved_place = saved;
    else body.pickup = { address: $('#bk-pickup-address').value, location: { latitude: Number($('#bk-pickup-lat').value), longitude: Number($('#bk-pickup-lon').value), datum: 'DATUM_WGS84' } };
    if ($('#bk-dropoff-saved').value) body.dropoff_saved_place = $('#bk-dropoff-saved').value;
    if ($('#bk-time').value) body.pickup_time = new Date($('#bk-time').value).toISOString();
    try { const r = await rpc('HotlineService/CreateBooking', body); booked(r.order); } catch (e) { showError(form, e, $('#booking-error')); }
  });
  function booked(o) {
    $('#booking-result').textContent = `已下单：${o.order_id}（${st(o.status)}）${o.reservation ? ' 预约 ' + timeText(o.pickup_time) : ''}`;
    $('#booking-result').dataset.order = o.order_id;
    state.requestId = newRequestId();
    state.dirty = false;
    refreshCallerSoon();
  }

  // ---- lists ---------------------------------------------------------------------------
  const ago = ms => { const s = Math.max(0, Math.round(ms / 1000)); return s < 60 ? `${s} 秒` : `${Math.floor(s / 60)} 分 ${s % 60} 秒`; };
  const dur = d => d ? parseFloat(d) * 1000 : 0;
  async function loadWaiting() {
    let r; try { r = await rpc('DispatchService/ListPendingOrders', { page_size: 100 }); } catch (e) { return; }
    $('#waiting-count').textContent = r.total;
    $('#waiting tbody').replaceChildren(...r.orders.map(p => {
      const o = p.order;
      return el('tr', { 'data-order': o.order_id, 'data-status': o.status },
        el('td', { text: o.order_id.slice(0, 8) + '…', title: o.order_id }),
        el('td', {}, o.passenger_name || '—', o.elderly ? el('span', { class: 'badge elderly', text: '老' , title: REASON[o.elderly_reason] || '老年乘客' }) : null,
          o.elderly ? el('span', { class: 'age', 'data-phone': o.passenger_phone || '', text: ageText(o.passenger_phone) }) : null),
        el('td', { text: placeText(o.pickup) }),
        el('td', { text: ago(dur(p.waiting)) }),
        el('td', {}, el('button', { type: 'button', class: 'assign-btn', text: '指派', 'aria-label': `为 ${o.passenger_name || o.order_id} 指派车辆`, onclick: () => openAssign(o) })));
    }));
    fillAges();
  }
  // An older passenger's age, from the caller registry (LookupCaller: the server derives
  // it from the resident ID), kept for 10 minutes; the waiting list shows it by the flag.
  const ages = new Map(); // phone → { age, at }
  const ageText = phone => { const a = ages.get(phone); return a && a.age ? ` ${a.age} 岁` : ''; };
  async function fillAges() {
    const want = [...new Set($$('#waiting .age').map(s => s.dataset.phone).filter(p => p && !(ages.has(p) && Date.now() - ages.get(p).at < 600000)))];
    await Promise.all(want.map(async (phone) => {
      try { const r = await rpc('HotlineService/LookupCaller', { phone }); ages.set(phone, { age: r.caller && r.caller.age, at: Date.now() }); } catch (e) { /* shown without */ }
    }));
    $$('#waiting .age').forEach(s => { s.textContent = ageText(s.dataset.phone); });
  }
  async function openAssign(o) {
    const panel = $('#assign-panel'); panel.hidden = false;
    panel.replaceChildren(el('p', { text: `为订单 ${o.order_id} 选择附近空车（按距离）：` }));
    let r;
    try { r = await rpc('FleetService/ListNearbyTaxis', { center: o.pickup.location, radius_meters: 5000, limit: 10 }); }
    catch (e) { panel.append(el('p', { class: 'err', role: 'alert', text: e.message })); return; }
    if (!r.taxis.length) { panel.append(el('p', { class: 'muted', text: '5 公里内没有空车' })); return; }
    const list = el('ul', { class: 'plain' }, ...r.taxis.map(t => el('li', {}, el('button', { type: 'button', class: 'taxi-btn', 'data-taxi': t.taxi_id,
      text: `${t.plate || t.taxi_id} · ${(t.distance_meters / 1000).toFixed(2)} 公里${t.wheelchair_accessible ? ' · 无障碍' : ''}`, onclick: () => assign(o, t) }))));
    panel.append(list);
    $('button', list).focus();
  }
  async function assign(o, t) {
    const panel = $('#assign-panel');
    try {
      await rpc('DispatchService/AssignOrder', { order_id: o.order_id, taxi_id: t.taxi_id, operator_id: state.me.id });
      panel.replaceChildren(el('p', { class: 'ok', role: 'status', text: `已指派 ${t.plate || t.taxi_id}` }));
    } catch (e) {
      let text = e.message;
      try {
        const g = await rpc('HotlineService/GetOrder', { order_id: o.order_id });
        if (g.order.assigned_by && g.order.assigned_by !== state.me.id) text = `已被 ${g.order.assigned_by} 指派`;
        else if (g.order.taxi && g.order.taxi.taxi_id) text = `已派给 ${g.order.taxi.plate || g.order.taxi.taxi_id}（${st(g.order.status)}）`;
      } catch (e2) { /* keep the first message */ }
      panel.replaceChildren(el('p', { class: 'err race', role: 'alert', text }));
    }
    reloadLists();
  }
  async function loadProgress() {
    let r; try { r = await api('in-progress'); } catch (e) { return; }
    $('#progress-count').textContent = r.length;
    $('#progress tbody').replaceChildren(...r.map(o => el('tr', { 'data-order': o.order_id, 'data-status': o.status },
      el('td', { text: o.order_id.slice(0, 8) + '…', title: o.order_id }),
      el('td', {}, o.passenger_name || '—', o.elderly ? el('span', { class: 'badge elderly', text: '老' }) : null),
      el('td', { text: st(o.status) }), el('td', { text: o.plate || o.taxi_id, title: o.taxi_id, 'data-taxi': o.taxi_id }))));
  }
  async function loadCallbacks() {
    let r; try { r = await rpc('DispatchService/ListCallbacks', { limit: 100 }); } catch (e) { return; }
    $('#callbacks-count').textContent = r.orders.length;
    $('#callbacks').replaceChildren(...r.orders.map(o => {
      const id = 'cb-' + o.order_id;
      const form = el('form', { class: 'row', onsubmit: async (ev) => {
        ev.preventDefault(); clearErrors(form);
        try { await rpc('DispatchService/ResolveCallback', { order_id: o.order_id, operator_id: state.me.id, outcome: $('input', form).value }); reloadLists(); }
        catch (e) { showError(form, e); }
      } }, el('label', { htmlFor: id, class: 'inline', text: '回访结果' }), el('input', { id, required: true }), el('button', { type: 'submit', text: '已回访' }), el('p', { class: 'err', 'data-field': 'outcome', role: 'alert' }));
      return el('li', { 'data-order': o.order_id }, `${o.passenger_name || ''} ${o.passenger_phone} · ${placeText(o.pickup)} · ${timeText(o.create_time)}`, form);
    }));
  }
  async function loadAlerts() {
    let r; try { r = await rpc('HotlineService/ListAlerts', { include_acknowledged: false, limit: 50 }); } catch (e) { return; }
    $('#alerts-count').textContent = r.alerts.length;
    $('#alerts').replaceChildren(...r.alerts.map(a => el('li', { class: 'alert-open', 'data-alert': a.alert_id },
      el('strong', { text: `${a.caller_name || ''} ${a.caller_phone}` }), ` · ${placeText(a.location)} · ${timeText(a.raise_time)} · 联系人 ${(a.care_contacts || []).join('、') || '无'} `,
      el('button', { type: 'button', class: 'primary ack-btn', text: '受理', 'aria-label': `受理 ${a.caller_name || a.alert_id} 的紧急求助`, onclick: async () => {
        try { await rpc('HotlineService/AcknowledgeAlert', { alert_id: a.alert_id, operator_id: state.me.id, note: '' }); reloadLists(); } catch (e) { alert(e.message); }
      } }))));
    const fresh = r.alerts.filter(a => !state.alarmed.has(a.alert_id));
    r.alerts.forEach(a => state.alarmed.add(a.alert_id));
    if (fresh.length) alarm();
  }
  async function loadEscalations() {
    let r; try { r = await api('escalations'); } catch (e) { return; }
    const box = $('#escalations');
    box.hidden = !r.length;
    // The server re-checks open alerts every few seconds: look again while any is listed.
    clearTimeout(state.escalationTimer);
    if (r.length) state.escalationTimer = setTimeout(loadEscalations, 2000);
    box.textContent = r.length ? `⚠ ${r.length} 条紧急求助超时未受理，已升级给值班主管：${r.map(e => e.name || e.alert_id).join('、')}` : '';
  }

  // ---- my seat (the call queue) --------------------------------------------------------
  // The operator's own seat in the call queue (CallCentreService, the policy table lets an
  // operator set only their own). Calls routed to it arrive on the live feed (`routed`).
  const SEAT = { SEAT_STATE_LOGGED_OUT: '未签入', SEAT_STATE_LOGGED_IN: '已签入（未就绪）', SEAT_STATE_READY: '就绪', SEAT_STATE_BUSY: '通话中',
    SEAT_STATE_WRAP_UP: '话后整理', SEAT_STATE_BREAK: '小休' };
  async function loadSeat() {
    if (!state.me || !['operator', 'supervisor'].includes(state.me.role)) { $('#seat').hidden = true; return; }
    $('#seat').hidden = false;
    let seat = null;
    try { seat = (await rpc('CallCentreService/GetSeat', { seat_id: state.me.id })).seat; } catch (e) { if (e.code !== 'NOT_FOUND') { $('#seat-error').textContent = e.message; return; } }
    const s = seat ? seat.state : 'SEAT_STATE_LOGGED_OUT';
    $('#seat').dataset.state = s;
    $('#seat-state').textContent = (SEAT[s] || s) + (seat && seat.call_id ? ` · 通话 ${seat.call_id}` : '');
    $$('#seat button[data-seat]').forEach(b => { b.setAttribute('aria-pressed', String(b.dataset.seat === s)); });
  }
  $$('#seat button[data-seat]').forEach(b => b.addEventListener('click', async () => {
    $('#seat-error').textContent = '';
    try { await rpc('CallCentreService/SetSeatState', { seat_id: state.me.id, state: b.dataset.seat }); } catch (e) { $('#seat-error').textContent = e.message; }
    loadSeat();
  }));

  // ---- sound ---------------------------------------------------------------------------
  function unlockAudio() {
    try { if (!state.audio) state.audio = new (window.AudioContext || window.webkitAudioContext)(); if (state.audio.state === 'suspended') state.audio.resume(); } catch (e) { /* no audio */ }
  }
  function alarm() {
    unlockAudio();
    const ctx = state.audio; if (!ctx) return;
    const play = () => {
      window.consoleAlarm.started = ctx.state === 'running' ? 1 : 0;
      for (let i = 0; i < 3; i++) {
        const osc = ctx.createOscillator(); const gain = ctx.createGain();
        osc.type = 'square'; osc.frequency.value = i % 2 ? 660 : 880; gain.gain.value = 0.15;
        osc.connect(gain).connect(ctx.destination);
        const t = ctx.currentTime + i * 0.3; osc.start(t); osc.stop(t + 0.25);
        window.consoleAlarm.oscillators += 1;
      }
    };
    if (ctx.state === 'running') play(); else ctx.resume().then(play, play);
  }

  // ---- map -----------------------------------------------------------------------------
  let map = null, taxiLayer = null, orderLayer = null, clickLayer = null, standLayer = null;
  // The base map: a tile URL, a PMTiles archive served by this server (read with range
  // requests by the vendored PMTiles reader), or none (the project's shapes only).
  function baseMap() {
    if (state.me.pmtiles) {
      const src = new pmtiles.PMTiles(state.me.pmtiles);
      src.getHeader().then(h => {
        const layer = pmtiles.leafletRasterLayer(src, { minNativeZoom: h.minZoom, maxNativeZoom: h.maxZoom, maxZoom: 19 });
        layer.on('tileload', () => { $('#mapview').dataset.tiles = String(Number($('#mapview').dataset.tiles || 0) + 1); });
        layer.addTo(map);
      }).catch(e => { $('#map-info').textContent = '底图无法读取：' + e.message; });
    } else if (state.me.tiles) {
      L.tileLayer(state.me.tiles, { maxZoom: 19 }).addTo(map);
    }
  }
  // A click on the map becomes the booking's pickup: the server turns the map's point into
  // the stored datum (WGS-84), so nothing is converted here.
  async function mapClick(ev) {
    let p;
    try { p = await api(`map/place?lat=${ev.latlng.lat}&lon=${ev.latlng.lng}`); } catch (e) { $('#map-info').textContent = e.message; return; }
    clickLayer.clearLayers();
    L.circleMarker(ev.latlng, { radius: 8, color: '#6a1b9a', fillOpacity: 0.5, weight: 2 }).addTo(clickLayer);
    state.mapPlace = p;
    $('#mapview').dataset.place = `${p.latitude},${p.longitude}`;
    if (state.caller && !$('#booking').hidden) {
      $('#bk-pickup-saved').value = '__other'; $('#bk-pickup-other').hidden = false;
      if (!$('#bk-pickup-address').value) $('#bk-pickup-address').value = '地图选点';
      $('#bk-pickup-lat').value = p.latitude.toFixed(6); $('#bk-pickup-lon').value = p.longitude.toFixed(6);
      state.dirty = true;
      $('#map-info').textContent = `上车地点已设为 ${p.latitude.toFixed(6)}, ${p.longitude.toFixed(6)}（F1 回到下单）`;
    } else {
      $('#map-info').textContent = `选点 ${p.latitude.toFixed(6)}, ${p.longitude.toFixed(6)}（接听来电后点击地图可设为上车地点）`;
    }
  }
  function openMap() {
    if (!map) {
      map = L.map('mapview', { preferCanvas: true, zoomControl: true, attributionControl: false }).setView([state.me.centre.lat, state.me.centre.lon], 11);
      baseMap();
      api('map/area').then(g => L.geoJSON(g, { style: { color: '#12325a', weight: 2, fillColor: '#cfe0f0', fillOpacity: 0.35 } }).addTo(map)).catch(() => {});
      standLayer = L.layerGroup().addTo(map);
      taxiLayer = L.layerGroup().addTo(map); orderLayer = L.layerGroup().addTo(map); clickLayer = L.layerGroup().addTo(map);
      map.on('click', mapClick);
      window.consoleMap = map; // for the browser tests (zooming in)
      map.on('moveend', loadMap);
      setInterval(() => { if (state.view === 'map') loadMap(); }, 2000);
    }
    setTimeout(() => { map.invalidateSize(); loadMap(); }, 50);
  }
  async function loadMap() {
    if (!map) return;
    const b = map.getBounds();
    const q = `south=${b.getSouth()}&west=${b.getWest()}&north=${b.getNorth()}&east=${b.getEast()}&zoom=${map.getZoom()}`;
    let r; try { r = await api('map/taxis?' + q); } catch (e) { return; }
    taxiLayer.clearLayers();
    if (r.mode === 'cells') {
      for (const c of r.cells) {
        const n = c.free + c.busy;
        L.circleMarker([c.lat, c.lon], { radius: Math.min(22, 5 + Math.sqrt(n) * 2), color: c.free >= c.busy ? '#1b873f' : '#c5221f', fillOpacity: 0.7, weight: 1 })
          .bindTooltip(`空车 ${c.free} · 忙 ${c.busy}`).addTo(taxiLayer);
      }
    } else {
      for (const t of r.taxis) L.circleMarker([t.lat, t.lon], { radius: 5, color: t.free ? '#1b873f' : '#c5221f', fillOpacity: 0.9, weight: 1 }).bindTooltip(t.id).addTo(taxiLayer);
    }
    $('#map-info').textContent = `共 ${r.total} 辆车（${r.mode === 'cells' ? '网格汇总' : '单车'}）`;
    try {
      // The waiting orders' pickups, in the map's datum (converted by the server).
      const orders = await api('map/orders');
      orderLayer.clearLayers();
      for (const o of orders) L.circleMarker([o.lat, o.lon], { radius: 7, color: '#0b57d0', fillOpacity: 0.9, weight: 2 }).bindTooltip(o.name || o.order_id).addTo(orderLayer);
      window.consoleMapOrders = orders; // for the browser tests
    } catch (e) { /* keep */ }
    try {
      // Taxi stands (候客点): the fence, and the queue's length and head's wait.
      const g = await api('map/stands');
      standLayer.clearLayers();
      const style = f => ({ color: f.properties.open ? '#8a4b00' : '#888', weight: 2, fillColor: '#f2b84b', fillOpacity: 0.25 });
      const tip = p => `${p.name} · 候客 ${p.queue} 辆${p.queue ? ` · 最久 ${Math.round(p.oldest_wait_s / 60)} 分钟` : ''}`;
      L.geoJSON(g, {
        style,
        pointToLayer: (f, at) => L.circle(at, Object.assign({ radius: f.properties.radius_m || 30 }, style(f))),
        onEachFeature: (f, layer) => layer.bindTooltip(tip(f.properties)),
      }).addTo(standLayer);
      window.consoleMapStands = g.features.map(f => f.properties); // for the browser tests
    } catch (e) { /* keep */ }
    $('#mapview').dataset.drawn = String(Date.now());
  }

  // ---- KPIs ----------------------------------------------------------------------------
  async function loadKpi() {
    let s; try { s = await rpc('DispatchService/GetDispatchStats', {}); } catch (e) { $('#kpi').textContent = e.message; return; }
    const sec = d => d ? parseFloat(d) : 0;
    const lat = (k, q) => [sec(s[k + '_elderly'] && s[k + '_elderly'][q]), sec(s[k + '_others'] && s[k + '_others'][q])];
    // [label, older, others, key]: each bar carries its figure (data-kpi, data-group, data-value).
    const rows = [
      ['派车用时中位数（秒）', ...lat('time_to_assign', 'median'), 'time_to_assign.median'],
      ['派车用时 P90（秒）', ...lat('time_to_assign', 'p90'), 'time_to_assign.p90'],
      ['接驾用时中位数（秒）', ...lat('time_to_pickup', 'median'), 'time_to_pickup.median'],
      ['接驾用时 P90（秒）', ...lat('time_to_pickup', 'p90'), 'time_to_pickup.p90'],
    ];
    const max = Math.max(1, ...rows.flatMap(r => [r[1], r[2]]));
    const W = 640, svgNS = 'http://www.w3.org/2000/svg';
    const chart = (label, height) => {
      const svg = document.createElementNS(svgNS, 'svg');
      svg.setAttribute('viewBox', `0 0 ${W} ${height}`); svg.setAttribute('role', 'img'); svg.setAttribute('aria-label', label);
      const add = (tag, attrs, text) => { const e = document.createElementNS(svgNS, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text != null) e.textContent = text; svg.append(e); return e; };
      return [svg, add];
    };
    const rowH = 56;
    const [svg, add] = chart('老年乘客与其他乘客的派车与接驾用时', rows.length * rowH + 30);
    svg.id = 'kpi-times';
    rows.forEach((r, i) => {
      const y = i * rowH + 10;
      add('text', { x: 0, y: y + 12, class: 'bar-label' }, r[0]);
      add('rect', { x: 180, y, width: Math.max(1, (W - 260) * r[1] / max), height: 18, fill: '#b35c00', 'data-kpi': r[3], 'data-group': 'elderly', 'data-value': String(r[1]) });
      add('text', { x: 185 + (W - 260) * r[1] / max, y: y + 14, class: 'bar-label' }, `老年 ${r[1].toFixed(1)}`);
      add('rect', { x: 180, y: y + 22, width: Math.max(1, (W - 260) * r[2] / max), height: 18, fill: '#12325a', 'data-kpi': r[3], 'data-group': 'others', 'data-value': String(r[2]) });
      add('text', { x: 185 + (W - 260) * r[2] / max, y: y + 36, class: 'bar-label' }, `其他 ${r[2].toFixed(1)}`);
    });
    // Outcomes of today's orders, older passengers against others: fulfilment, and the
    // orders left for a call-back; then older passengers' share of the orders.
    const n = x => Number(x) || 0;
    const total = n(s.orders_total), elderlyOrders = n(s.elderly_orders);
    const pct = x => `${(x * 100).toFixed(1)}%`;
    const ue = n(s.unfulfilled_elderly), uo = n(s.unfulfilled_others);
    // [label, [older value, text], [others value, text], scale, key]
    const outcome = [
      ['派车成功率', [n(s.fulfilment_rate_elderly), pct(n(s.fulfilment_rate_elderly))], [n(s.fulfilment_rate_others), pct(n(s.fulfilment_rate_others))], 1, 'fulfilment_rate'],
      ['待回访（未派出）', [ue, `${ue} 单`], [uo, `${uo} 单`], Math.max(1, ue, uo), 'unfulfilled'],
    ];
    const [svg2, add2] = chart('老年乘客与其他乘客的派车成功率与待回访，及老年乘客订单', outcome.length * rowH + 42);
    svg2.id = 'kpi-outcomes';
    const bar = (y, [v, text], scale, kpi, group, fill, who) => {
      const w = (W - 300) * Math.min(1, v / scale);
      add2('rect', { x: 180, y, width: Math.max(1, w), height: 18, fill, 'data-kpi': kpi, 'data-group': group, 'data-value': String(v) });
      add2('text', { x: 185 + w, y: y + 14, class: 'bar-label' }, `${who} ${text}`);
    };
    outcome.forEach((r, i) => {
      const y = i * rowH + 10;
      add2('text', { x: 0, y: y + 12, class: 'bar-label' }, r[0]);
      bar(y, r[1], r[3], r[4], 'elderly', '#b35c00', '老年');
      bar(y + 22, r[2], r[3], r[4], 'others', '#12325a', '其他');
    });
    const y3 = outcome.length * rowH + 10;
    add2('text', { x: 0, y: y3 + 14, class: 'bar-label' }, '老年乘客订单');
    const share = (W - 300) * Math.min(1, elderlyOrders / Math.max(1, total));
    add2('rect', { x: 180, y: y3, width: Math.max(1, share), height: 18, fill: '#b35c00', 'data-kpi': 'elderly_orders', 'data-value': String(elderlyOrders) });
    add2('text', { x: 185 + share, y: y3 + 14, class: 'bar-label' }, `${elderlyOrders} / ${total} 单`);
    const facts = el('ul', { class: 'plain' },
      el('li', { 'data-kpi': 'orders', text: `今日订单 ${s.orders_total}，其中老年乘客 ${s.elderly_orders}（${(s.elderly_share * 100).toFixed(1)}%）` }),
      el('li', { 'data-kpi': 'outcomes', text: `派车成功率 ${(s.fulfilment_rate * 100).toFixed(1)}%（完成 ${s.completed}，取消 ${s.cancelled}，未派出 ${s.unfulfilled}）` }),
      el('li', { 'data-kpi': 'queue', text: `待回访 ${s.unfulfilled}；等待派车 ${s.pending}；每单派单次数 ${Number(s.offers_per_order).toFixed(2)}` }),
    );
    $('#kpi').replaceChildren(svg, svg2, facts, await callCentreKpi());
  }

  // The call queue's figures of today (CallCentreService): time to answer and answer
  // rate, older callers against others.
  async function callCentreKpi() {
    const box = el('section', { id: 'kpi-calls', 'aria-labelledby': 'kpi-calls-title' }, el('h4', { id: 'kpi-calls-title', text: '接听（今日）：老年来电与其他来电' }));
    let c; try { c = await rpc('CallCentreService/GetCallCentreStats', {}); } catch (e) { box.append(el('p', { class: 'err', text: e.message })); return box; }
    const d = (c.day || {}); const e = d.elderly || {}, o = d.others || {};
    const sec = x => x ? parseFloat(x) : 0, pctText = x => `${((Number(x) || 0) * 100).toFixed(1)}%`;
    const rows = [
      ['接听用时中位数（秒）', sec(e.median_speed_of_answer).toFixed(1), sec(o.median_speed_of_answer).toFixed(1), 'median'],
      ['接听用时 P90（秒）', sec(e.p90_speed_of_answer).toFixed(1), sec(o.p90_speed_of_answer).toFixed(1), 'p90'],
      ['平均接听用时（秒）', sec(e.average_speed_of_answer).toFixed(1), sec(o.average_speed_of_answer).toFixed(1), 'average'],
      ['接通率', pctText(e.answer_rate), pctText(o.answer_rate), 'answer_rate'],
      ['来电 / 接听 / 放弃', `${e.arrived || 0} / ${e.answered || 0} / ${e.abandoned || 0}`, `${o.arrived || 0} / ${o.answered || 0} / ${o.abandoned || 0}`, 'counts'],
    ];
    const table = el('table', { class: 'kpi-calls' }, el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: '指标' }), el('th', { scope: 'col', text: '老年来电' }), el('th', { scope: 'col', text: '其他来电' }))),
      el('tbody', {}, ...rows.map(r => el('tr', { 'data-kpi': r[3] }, el('th', { scope: 'row', text: r[0] }), el('td', { class: 'k-elderly', text: r[1] }), el('td', { class: 'k-others', text: r[2] })))));
    box.append(table, el('p', { class: 'muted', text: `排队中 ${c.calls_waiting || 0} 通；就绪坐席 ${c.seats_ready || 0} 个` }));
    return box;
  }

  // ---- start ---------------------------------------------------------------------------
  (async () => {
    try { const info = await api('me'); await start(info); } catch (e) { showLogin(); $('#login-username').focus(); }
  })();
})();
