// pages/workload.js — placeholder until the page is written.
import { h } from '../dom.js';
export function mount(root) { root.append(h('h1', null, 'workload'), h('p', { class: 'empty' }, 'This page is being built.')); }
