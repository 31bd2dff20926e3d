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
http.createServer(bot.httpMiddleware()).listen(port);
process.on('SIGTERM', () => { console.error(`node webhook: handled ${handled}`); process.exit(0); });
