// pages/workloads.js — placeholder until the page is written.
import { h } from '../dom.js';
export function mount(root) { root.append(h('h1', null, 'workloads'), h('p', { class: 'empty' }, 'This page is being built.')); }
