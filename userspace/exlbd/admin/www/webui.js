// SPDX-License-Identifier: GPL-2.0 OR MIT
// exlb's status page: fetches GET /status.json (what `exlbctl status -j`
// prints) every 2 s and renders it. Every value goes in as textContent,
// never as markup: names, reasons and certificates are the operator's text.
'use strict';

(function () {
	const REFRESH_MS = 2000;
	// location.origin has no user:password@, which fetch() would refuse
	const STATUS_URL = new URL('/status.json', location.origin);

	function el(tag, text, cls) {
		const e = document.createElement(tag);

		if (text !== undefined && text !== null)
			e.textContent = String(text);
		if (cls)
			e.className = cls;
		return e;
	}

	function hostPort(addr, port) {
		return String(addr).includes(':') ? '[' + addr + ']:' + port : addr + ':' + port;
	}

	// a fixed set of classes, whatever the text says
	function statusClass(s) {
		s = String(s || '');
		if (s === 'Up' || s === 'up')
			return 'up';
		if (s.startsWith('Down') || s === 'down')
			return 'down';
		return 'other';
	}

	function rsCell(list) {
		const td = el('td', null, 'rs-list');

		if (!list || !list.length) {
			td.append(el('span', 'none', 'muted'));
			return td;
		}
		for (const rs of list) {
			// not by colour alone
			const text = hostPort(rs.addr, rs.port) +
				(rs.health === 'up' ? '' : ' (' + rs.health + ')');
			const s = el('span', text, statusClass(rs.health));

			s.title = rs.health + (rs.reason ? ': ' + rs.reason : '');
			td.append(s);
		}
		return td;
	}

	function vsRow(vs, parent) {
		const tr = el('tr', null, parent ? 'subvs' : 'vs');

		if (parent) {
			tr.append(el('td', 'SubVS ' + vs.id, 'muted'), el('td'), el('td'));
		} else {
			tr.append(el('td', vs.vip), el('td', vs.port), el('td', vs.prot));
		}
		tr.append(el('td', vs.name),
			  el('td', parent ? '' : vs.layer),
			  el('td', parent ? '' : vs.certificate),
			  el('td', vs.status, statusClass(vs.status)),
			  rsCell(vs.rs));
		return tr;
	}

	function rsRows(body, where, list) {
		for (const rs of list || []) {
			const tr = el('tr', null, 'rs');

			tr.append(el('td', where), el('td', hostPort(rs.addr, rs.port)),
				  el('td', rs.weight), el('td', rs.enable ? 'yes' : 'no'),
				  el('td', rs.health, statusClass(rs.health)),
				  el('td', rs.reason), el('td', rs.active),
				  el('td', rs.conns));
			body.append(tr);
		}
	}

	function render(st) {
		const vsBody = document.createElement('tbody');
		const rsBody = document.createElement('tbody');
		const kernel = st.kernel || {};

		for (const vs of st.vs || []) {
			const label = (vs.name ? vs.name + ' ' : '') + '(' + hostPort(vs.vip, vs.port) + ')';

			vsBody.append(vsRow(vs, null));
			rsRows(rsBody, label, vs.rs);
			for (const sub of vs.subvs || []) {
				vsBody.append(vsRow(sub, vs));
				rsRows(rsBody, label + ' / ' + (sub.name || 'SubVS ' + sub.id), sub.rs);
			}
		}
		document.querySelector('#vs tbody').replaceWith(vsBody);
		document.querySelector('#rs tbody').replaceWith(rsBody);
		document.getElementById('kernel').textContent =
			'kernel data plane: ' + (kernel.available ? 'available' : 'unavailable');
	}

	async function refresh() {
		const error = document.getElementById('error');

		try {
			const r = await fetch(STATUS_URL, { cache: 'no-store', credentials: 'same-origin' });

			if (!r.ok)
				throw new Error('HTTP ' + r.status);
			render(await r.json());
			error.hidden = true;
			document.getElementById('updated').textContent =
				'updated ' + new Date().toLocaleTimeString();
		} catch (e) {
			error.textContent = 'exlbd did not answer: ' + e.message;
			error.hidden = false;
		}
		setTimeout(refresh, REFRESH_MS);
	}

	refresh();
})();
