// auth.js — the token a server started with --tokens asks for: kept in localStorage,
// sent as "Authorization: Bearer" on every API call (api.js), asked for in a small
// dialog when the server answers 401, forgotten by "Sign out".

import { h } from './dom.js';

const KEY = 'kmon.token';
let pending = null; // the open dialog's promise: many 401s at once ask once

export function token() {
  try { return localStorage.getItem(KEY) || ''; } catch { return ''; }
}

function store(t) {
  try {
    if (t) localStorage.setItem(KEY, t); else localStorage.removeItem(KEY);
  } catch { /* private mode: the token lives until the page is reloaded */ }
  memo = t;
  for (const fn of listeners) fn(!!t);
}
let memo = '';
const listeners = [];

/** The headers of an API call with the token (when there is one). */
export function withToken(headers = {}) {
  const t = token() || memo;
  return t ? { ...headers, Authorization: `Bearer ${t}` } : headers;
}

/** Called with true/false when a token is stored or forgotten. */
export function onChange(fn) { listeners.push(fn); fn(!!(token() || memo)); }

export function signOut() { store(''); location.reload(); }

/**
 * The server refused the call (401): ask for a token, once for all calls waiting; resolves
 * when one was entered (the caller retries), rejects when the dialog was cancelled.
 */
export function askToken(why) {
  if (pending) return pending;
  pending = new Promise((resolve, reject) => {
    const input = h('input', { type: 'password', id: 'auth-token', autocomplete: 'current-password', required: true, 'aria-label': 'Token', spellcheck: 'false' });
    const msg = h('p', { class: 'muted', id: 'auth-why' }, why || 'This kmon server needs a token.');
    const form = h('form', { method: 'dialog', class: 'auth-form' },
      h('h2', { id: 'auth-title' }, 'Sign in'),
      msg,
      h('label', null, h('span', null, 'Token'), input),
      h('p', { class: 'muted small' }, 'Kept in this browser (localStorage) and sent as a bearer token. Ask whoever runs the server (kmon token new).'),
      h('div', { class: 'auth-actions' },
        h('button', { type: 'button', class: 'btn', id: 'auth-cancel', onclick: () => dlg.close('cancel') }, 'Cancel'),
        h('button', { type: 'submit', class: 'btn primary', id: 'auth-submit', value: 'ok' }, 'Sign in')));
    const dlg = h('dialog', { class: 'auth-dialog', id: 'auth-dialog', 'aria-labelledby': 'auth-title' }, form);
    dlg.addEventListener('close', () => {
      const t = input.value.trim();
      dlg.remove();
      pending = null;
      if (dlg.returnValue === 'ok' && t) { store(t); resolve(t); } else reject(new Error('no token'));
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    input.focus();
  });
  return pending;
}
