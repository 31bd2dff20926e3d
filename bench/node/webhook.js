// The Node SDK's webhook receiver: chipchat's http middleware (signature
// checked, payload parsed and routed) with one message handler, like
// jsonbench serve-webhook.
'use strict';
const http = require('http');
const ChipChat = require('chipchat');

const port = Number(process.argv[2]);
const bot = new ChipChat({ secret: 'bench-webhook-secret', preloadBots: false });
let handled = 0;
bot.on('message', (m) => { if (m.role === 'contact' && m.text) handled++; });
const server = http.createServer(bot.httpMiddleware());
// The load generator leaves each receiver idle while it measures the others
// (8 s a round): Node's default 5 s keep-alive closed connections the
// generator was about to reuse, and a POST on a closed connection fails.
server.keepAliveTimeout = 60000;
server.listen(port);
process.on('SIGTERM', () => { console.error(`node webhook: handled ${handled}`); process.exit(0); });
