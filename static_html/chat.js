// SPDX-License-Identifier: MIT
// hrmr chat page: speaks LHTTP/1.0 over a plain browser WebSocket.
(function () {
  'use strict';

  var PROTOCOL = 'LHTTP/1.0';

  /** Serializes an lhttp message. Header values may not hold CR or LF. */
  function encode(command, headers, body) {
    var out = PROTOCOL + ' ' + command + '\r\n';
    for (var k in headers) out += k + ':' + String(headers[k]).replace(/[\r\n]/g, ' ') + '\r\n';
    return out + '\r\n' + (body || '');
  }

  /** Parses an lhttp message (key before the first colon, value untrimmed, last duplicate wins). */
  function decode(text) {
    if (typeof text !== 'string' || text.lastIndexOf(PROTOCOL, 0) !== 0) return null;
    var eol = text.indexOf('\r\n');
    if (eol < 0) return null;
    var msg = { command: text.slice(PROTOCOL.length + 1, eol), headers: {}, body: '' };
    var at = eol + 2;
    while (at < text.length) {
      var end = text.indexOf('\r\n', at);
      if (end === at) { msg.body = text.slice(at + 2); return msg; }
      var line = text.slice(at, end < 0 ? text.length : end);
      var colon = line.indexOf(':');
      if (colon > 0) msg.headers[line.slice(0, colon)] = line.slice(colon + 1);
      if (end < 0) break;
      at = end + 2;
    }
    return msg;
  }

  var $ = function (id) { return document.getElementById(id); };
  var params = new URLSearchParams(location.search);
  var wsPath = params.get('ws') || '/lhttp';
  var wsUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + wsPath;

  var ws = null;
  var channel = null;
  var nick = '';
  var retry = 0;
  var wanted = false;

  function setStatus(state, text) {
    var s = $('status');
    s.dataset.state = state;
    s.textContent = text;
  }

  function show(msg) {
    var li = document.createElement('li');
    var time = document.createElement('span');
    time.className = 'time';
    // The server's time stamp (lhttp-chat): milliseconds since the epoch.
    var t = /^\d+$/.test(msg.headers.time || '') ? new Date(Number(msg.headers.time)) : new Date();
    time.textContent = isNaN(t.getTime()) ? '' : t.toLocaleTimeString();
    li.appendChild(time);
    var who = (msg.headers.nick || '?').trim();
    if (msg.command === 'join' || msg.command === 'leave') {
      var sys = document.createElement('span');
      sys.className = 'system';
      sys.textContent = who + (msg.command === 'join' ? ' joined' : ' left');
      li.appendChild(sys);
    } else {
      var n = document.createElement('span');
      n.className = 'nick';
      n.textContent = who + ':';
      li.appendChild(n);
      li.appendChild(document.createTextNode(msg.body));
    }
    var list = $('messages');
    list.appendChild(li);
    while (list.children.length > 500) list.removeChild(list.firstChild);
    list.scrollTop = list.scrollHeight;
  }

  function connect() {
    setStatus('connecting', 'connecting...');
    var sock = new WebSocket(wsUrl);
    ws = sock;
    sock.onopen = function () {
      retry = 0;
      setStatus('online', 'online in ' + channel.slice(5));
      sock.send(encode('join', { subscribe: channel, publish: channel, nick: nick }));
      $('text').disabled = false;
      $('send').disabled = false;
      $('text').focus();
    };
    sock.onmessage = function (ev) {
      var msg = decode(String(ev.data));
      if (msg) show(msg);
    };
    sock.onclose = function () {
      if (ws !== sock) return;
      $('text').disabled = true;
      $('send').disabled = true;
      if (!wanted) return setStatus('offline', 'offline');
      // The server went away (restart, network): come back with a growing delay.
      var delay = Math.min(10000, 250 * Math.pow(2, retry++));
      setStatus('connecting', 'reconnecting in ' + Math.round(delay / 1000) + ' s');
      setTimeout(function () { if (wanted && ws === sock) connect(); }, delay);
    };
  }

  $('join').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var room = $('room').value.trim();
    var name = $('nick').value.trim();
    if (!/^[A-Za-z0-9_-]+$/.test(room) || name === '') return;
    var next = 'room.' + room;
    nick = name;
    if (ws && ws.readyState === WebSocket.OPEN && channel) {
      ws.send(encode('leave', { publish: channel, unsubscribe: channel, nick: nick }));
      channel = next;
      ws.send(encode('join', { subscribe: channel, publish: channel, nick: nick }));
      setStatus('online', 'online in ' + room);
      $('messages').textContent = '';
      return;
    }
    channel = next;
    wanted = true;
    connect();
  });

  $('say').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = $('text').value;
    if (text === '' || !ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(encode('chat', { publish: channel, nick: nick }, text));
    $('text').value = '';
  });

  window.lhttpChat = { encode: encode, decode: decode };
})();
