// pages/pods.js — placeholder until the page is written.
import { h } from '../dom.js';
export function mount(root) { root.append(h('h1', null, 'pods'), h('p', { class: 'empty' }, 'This page is being built.')); }
