// Preloaded into reqlite (node -r this_file .../reqlite/lib/node.js --driver-port N):
// reqlite listens on every interface; the specs want it on 127.0.0.1 only, so a
// listen() on a bare port number is given the loopback host.
'use strict';
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (port, ...rest) {
  const numeric = typeof port === 'number' || (typeof port === 'string' && /^[0-9]+$/.test(port));
  if (!numeric) return listen.call(this, port, ...rest);
  const done = rest.find((arg) => typeof arg === 'function');
  return done ? listen.call(this, Number(port), '127.0.0.1', done) : listen.call(this, Number(port), '127.0.0.1');
};
