'use strict';

// Conformance: drives the fake ChatShipper API (cmd/chatshipper-fake, the
// chatshippertest package as a server) through chipchat, the official
// ChatShipper Node SDK, using only chipchat's documented API, and checks
// every answer. The fake runs with the real API's rate limits (20 requests
// per second per token and per IP) and bot loop limits; this program keeps
// its own requests under the rate limit, as a client of the real API must.
// It prints one line per operation checked, goes on after a mismatch, ends
// with "N passed, N failed" and exits non-zero on any mismatch. See README.md.

const { spawn } = require('child_process');
const http = require('http');
const net = require('net');
const path = require('path');
const readline = require('readline');
const assert = require('assert').strict;
const ChipChat = require('chipchat');

const repoRoot = path.resolve(__dirname, '..');
const SECRET = 'conformance-webhook-secret';
const CHECK_TIMEOUT = 30000; // one operation; a hang fails it and the run goes on
const RUN_TIMEOUT = 240000;
const results = []; // { name, ok, message }

// check runs one operation and records its outcome; a mismatch is reported
// and the run goes on.
async function check(name, fn) {
    try {
        await within(Promise.resolve().then(fn), CHECK_TIMEOUT, `the operation "${name}"`);
        results.push({ name, ok: true });
        console.log(`ok   ${name}`);
    } catch (e) {
        const message = (e && e.message ? e.message : String(e)).split('\n').join(' ');
        results.push({ name, ok: false, message });
        console.log(`FAIL ${name}: ${message}`);
    }
}

// within resolves with promise's value, or rejects after ms.
function within(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}

// once resolves with the arguments of the next emit of event on emitter.
function once(emitter, event) {
    return new Promise((resolve) => {
        emitter.once(event, (...args) => resolve(args));
    });
}

// rejectsWith checks that promise rejects with an HTTP status and message,
// and returns the error.
async function rejectsWith(promise, status, message) {
    let err;
    try {
        await promise;
    } catch (e) {
        err = e;
    }
    assert.ok(err, `expected a ${status} error, the call succeeded`);
    assert.equal(err.statusCode, status, `status (message ${err.message})`);
    if (message instanceof RegExp) {
        assert.match(err.message, message);
    } else if (message !== undefined) {
        assert.equal(err.message, message);
    }
    return err;
}

// The request pacer: every API request this program makes (chipchat's
// through its documented fetchExtensions hook, and the plain ones) waits for
// a slot in a sliding second. 12 per second leaves room under the fake's 20
// per IP for the Go bot, which runs from the same address.
const PACE = 12;
const sent = [];
async function pace() {
    for (;;) {
        const now = Date.now();
        while (sent.length && sent[0] <= now - 1000) sent.shift();
        if (sent.length < PACE) {
            sent.push(now);
            return;
        }
        // eslint-disable-next-line no-await-in-loop
        await sleep(sent[0] + 1001 - now);
    }
}

// chip makes a chipchat client whose requests are paced. chipchat only
// emits errors to listeners; one is added so none goes unhandled.
function chip(opts) {
    const c = new ChipChat({ ...opts, fetchExtensions: { beforeRequest: [async () => pace()] } });
    c.on('error', () => {});
    return c;
}

// startServer runs the fake (go run ./cmd/chatshipper-fake, or the binary
// CONFORMANCE_SERVER names) with the real API's limits and reads the JSON
// line it prints.
function startServer() {
    const args = ['-json', '-watch-stdin', '-seed-file', path.join(__dirname, 'seed.json'),
        '-token-ttl', '1h', '-webhook-retry', '100ms', '-webhook-attempts', '3'];
    const cmd = process.env.CONFORMANCE_SERVER;
    const child = cmd
        ? spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] })
        : spawn('go', ['run', './cmd/chatshipper-fake', ...args], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = readline.createInterface({ input: child.stdout });
    const info = new Promise((resolve, reject) => {
        lines.once('line', (line) => resolve(JSON.parse(line)));
        child.once('exit', (code) => reject(new Error(`the fake server exited with ${code}`)));
        child.once('error', reject);
    });
    return { child, info: within(info, 120000, 'the fake server to start') };
}

// startGoBot runs the Go bot (conformance/gobot, written with the webhook
// package), configured through chipchat's environment variable names, and
// reads its webhook URL.
function startGoBot(info) {
    const cmd = process.env.CONFORMANCE_GOBOT;
    const env = {
        ...process.env,
        TOKEN: info.tokens.bot,
        APIHOST: info.host,
        SECRET,
        WEBHOOK_PATH: '/hooks/go',
        CHATSHIPPER_LISTEN_ADDR: '127.0.0.1:0'
    };
    const child = cmd
        ? spawn(cmd, [], { env, stdio: ['pipe', 'pipe', 'inherit'] })
        : spawn('go', ['run', './conformance/gobot'], { cwd: repoRoot, env, stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = readline.createInterface({ input: child.stdout });
    const url = new Promise((resolve, reject) => {
        lines.once('line', (line) => resolve(JSON.parse(line).url));
        child.once('exit', (code) => reject(new Error(`the Go bot exited with ${code}`)));
        child.once('error', reject);
    });
    const stop = () => {
        child.stdin.end();
        child.kill('SIGTERM');
    };
    return { url: within(url, 120000, 'the Go bot to start'), stop };
}

// eventually polls fn until it returns a truthy value, or fails after ms.
async function eventually(fn, ms, what) {
    const until = Date.now() + ms;
    for (;;) {
        // eslint-disable-next-line no-await-in-loop
        const v = await fn();
        if (v) return v;
        if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        // eslint-disable-next-line no-await-in-loop
        await sleep(50);
    }
}

// httpJSON makes a plain HTTP request with an optional JSON body and headers
// and returns the status, headers and decoded body (no global fetch: old
// Node versions lack it). API requests are paced unless unpaced is set.
async function httpJSON(method, url, body, { headers = {}, unpaced = false } = {}) {
    if (!unpaced && url.includes('/v2/')) await pace();
    return new Promise((resolve, reject) => {
        const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
        const req = http.request(url, {
            method,
            headers: data ? { ...headers, 'Content-Type': 'application/json', 'Content-Length': data.length } : headers
        }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                let json;
                try {
                    json = JSON.parse(text);
                } catch (e) {
                    json = undefined;
                }
                resolve({ status: res.statusCode, headers: res.headers, text, json });
            });
        });
        req.on('error', reject);
        if (data) req.write(data);
        req.end();
    });
}

// control calls the fake's control API (/_fake/...).
async function control(info, method, pathAndQuery, body) {
    const res = await httpJSON(method, info.control + pathAndQuery, body);
    assert.ok(res.status >= 200 && res.status < 300, `control ${method} ${pathAndQuery}: ${res.status} ${res.text}`);
    return res.json;
}

// waitDeliveries waits until no webhook delivery is pending and lists them.
function waitDeliveries(info) {
    return control(info, 'POST', 'deliveries/wait?timeout=20s');
}

async function authRequests(info) {
    return (await control(info, 'GET', 'requests?path=/v2/auth/token')).count;
}

// freePort asks the OS for a free loopback port (for bot.start, which takes a port).
function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

function listen(server) {
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

// startBotServer runs bot.start(port) (chipchat's express router) quietly.
async function startBotServer(receiver) {
    const port = await freePort();
    const ready = once(receiver, 'ready');
    const log = console.log;
    console.log = () => {}; // bot.start prints a banner
    receiver.start(port);
    try {
        await within(ready, 5000, 'bot.start');
    } finally {
        console.log = log;
    }
    return port;
}

async function main(info) {
    const org = info.organization;
    const botId = info.users.bot.id;
    const [alice, bob] = info.users.agents.map((u) => u.id);
    const bot = chip({ host: info.host, token: info.tokens.bot });
    const admin = chip({ host: info.host, token: info.tokens.admin });
    const part = (c, user) => (c.participants || []).find((p) => p.user === user) || {};

    // --- Tokens -------------------------------------------------------------
    await check('token claims: _id, organization, grant_type, cumulative scope (ChipChat.decodeJwt, bot.auth)', () => {
        const claims = ChipChat.decodeJwt(info.tokens.bot);
        assert.equal(claims._id, botId);
        assert.equal(claims.organization, org);
        assert.equal(claims.grant_type, 'access_token');
        assert.equal(claims.scope, 'viewer guest agent bot');
        assert.equal(ChipChat.decodeJwt(info.tokens.admin).scope, 'viewer guest agent bot admin');
        assert.equal(bot.auth.user, botId);
        assert.equal(bot.auth.organization, org);
    });

    // --- The seed file -------------------------------------------------------
    await check('seed file: chipchat reads what -seed-file stored (an organization, its channel, an outbound conversation active from the start)', async () => {
        const sf = info.seedFile;
        const branch = await admin.organizations.get(sf.organizations[0].id);
        assert.equal(branch.name, 'Acme Branch');
        assert.equal(branch.displayName, 'Acme Branch Office');
        const chans = await admin.channels.list({ organization: branch.id });
        assert.deepEqual(chans.map((c) => c.id), [sf.channels[0].id]);
        const c = await bot.conversations.get(sf.conversations[0].id);
        assert.equal(c.name, 'Seeded follow-up');
        assert.equal(c.status, 'active');
        assert.equal(c.touchpoint, 'email');
        assert.equal(part(c, botId).accepted, true);
    });

    // --- Create with /notify ------------------------------------------------
    let conv;
    await check('conversations.create with a /notify command: queued, every channel of the organization', async () => {
        conv = await bot.conversations.create({
            name: 'Conformance',
            messages: [{ text: 'Hello' }, { type: 'command', text: '/notify' }]
        });
        assert.equal(conv.status, 'queued');
        assert.deepEqual(conv.channels, info.channels);
        assert.equal(conv.messages.length, 2);
        assert.equal(conv.organization, org);
    });
    await check('conversations.create with /notify meta.channels', async () => {
        const c = await bot.conversations.create({
            name: 'Conformance one channel',
            messages: [{ text: 'Hello' }, { type: 'command', text: '/notify', meta: { channels: [info.channels[1]] } }]
        });
        assert.equal(c.status, 'queued');
        assert.deepEqual(c.channels, [info.channels[1]]);
    });

    // --- Command helpers of the conversation context ------------------------
    const fresh = async (name) => {
        const c = await bot.conversations.create({ name, messages: [{ text: 'Hello' }] });
        assert.equal(c.status, 'closed', 'a conversation nobody was notified about starts closed');
        return c;
    };

    await check('conversation.notify(channels): sends meta.organizations null, queues on those channels', async () => {
        const c = await fresh('Notify channels');
        const ctx = await bot.conversation(c.id);
        const msg = await ctx.notify([info.channels[0]]);
        assert.deepEqual(msg.meta, { channels: [info.channels[0]], organizations: null });
        const after = await bot.conversations.get(c.id);
        assert.equal(after.status, 'queued');
        assert.deepEqual(after.channels, [info.channels[0]]);
    });
    await check('conversation.notify([], organizations): sends meta.channels null, queues on the organization', async () => {
        const c = await fresh('Notify organization');
        const ctx = await bot.conversation(c.id);
        const msg = await ctx.notify([], [org]);
        assert.deepEqual(msg.meta, { channels: null, organizations: [org] });
        const after = await bot.conversations.get(c.id);
        assert.equal(after.status, 'queued');
        assert.deepEqual(after.channels, info.channels);
    });

    let cmdConv;
    let ctx;
    await check('conversation.assign(user): inbox flag, queued', async () => {
        cmdConv = await fresh('Commands');
        ctx = await bot.conversation(cmdConv.id);
        const msg = await ctx.assign(alice);
        assert.equal(msg.type, 'command');
        assert.equal(msg.text, '/assign');
        assert.deepEqual(msg.meta, { users: [alice] });
        const after = await bot.conversations.get(cmdConv.id);
        assert.equal(after.status, 'queued');
        assert.equal(part(after, alice).inbox, true);
    });
    await check('conversation.accept(): active, the bot accepted', async () => {
        await ctx.accept();
        const after = await bot.conversations.get(cmdConv.id);
        assert.equal(after.status, 'active');
        assert.equal(part(after, botId).accepted, true);
        assert.deepEqual(after.channels, []);
    });
    await check('conversation.say(text) and bot.send(id, [messages])', async () => {
        const said = await ctx.say('Hello from chipchat');
        assert.equal(said.text, 'Hello from chipchat');
        assert.equal(said.role, 'bot');
        assert.equal(said.user, botId);
        assert.equal(said.conversation, cmdConv.id);
        const batch = await bot.send(cmdConv.id, [{ text: 'one' }, { text: 'two', type: 'chat' }]);
        assert.deepEqual(batch.map((m) => m.text), ['one', 'two']);
    });
    await check('conversation.set(key, value) and set(@name, value)', async () => {
        await ctx.set('topic', 'cars');
        await ctx.set('@name', 'Renamed');
        const after = await bot.conversations.get(cmdConv.id);
        assert.equal(after.meta.topic, 'cars');
        assert.equal(after.name, 'Renamed');
    });
    await check('conversation.leave(): the last accepting user leaves an answered conversation: closed', async () => {
        await ctx.leave();
        const after = await bot.conversations.get(cmdConv.id);
        assert.equal(after.status, 'closed');
        assert.equal(part(after, botId).active, false);
    });
    await check('conversation.join(): re-opens the closed conversation (active), the bot active, not accepted', async () => {
        await ctx.join();
        const after = await bot.conversations.get(cmdConv.id);
        assert.equal(after.status, 'active');
        assert.equal(part(after, botId).active, true);
        assert.notEqual(part(after, botId).accepted, true);
    });
    await check('conversation.join() on a queued conversation leaves it queued', async () => {
        const c = await bot.conversations.create({ name: 'Join queued', messages: [{ text: 'Hi' }, { type: 'command', text: '/notify' }] });
        const qctx = await bot.conversation(c.id);
        await qctx.join();
        assert.equal((await bot.conversations.get(c.id)).status, 'queued');
    });
    await check('forward: /leave then /join for another agent (bot.send with user)', async () => {
        const c = await bot.conversations.create({
            name: 'Forward',
            messages: [{ text: 'Take over?' }, { type: 'command', text: '/accept', user: alice }]
        });
        await bot.send(c.id, [{ type: 'command', text: '/leave', user: alice }, { type: 'command', text: '/join', user: bob }]);
        const after = await bot.conversations.get(c.id);
        assert.equal(after.status, 'active');
        assert.equal(part(after, alice).active, false);
        assert.equal(part(after, bob).active, true);
    });

    // --- Mentions, tags and outbound messages, as documented ------------------
    await check('mention with meta.targetUser: the @Name prefix stripped, meta.targetName set, the target gets the inbox flag', async () => {
        const c = await fresh('Mention user');
        const m = await admin.send(c.id, { type: 'mention', text: '@Alice Agent please check this one', meta: { targetUser: alice } });
        assert.equal(m.text, 'please check this one');
        assert.deepEqual(m.meta, { targetUser: alice, targetName: 'Alice Agent' });
        const after = await bot.conversations.get(c.id);
        assert.equal(part(after, alice).inbox, true);
        assert.equal(after.status, 'closed', 'a mention does not change the status');
    });
    await check('mention with meta.targetOrganization: that organization\'s routing runs (its channels are notified)', async () => {
        const sf = info.seedFile;
        const c = await fresh('Mention organization');
        const m = await admin.send(c.id, {
            type: 'mention', text: '@Acme Branch Office can you take this?', meta: { targetOrganization: sf.organizations[0].id }
        });
        assert.equal(m.text, 'can you take this?');
        assert.equal(m.meta.targetName, 'Acme Branch Office');
        const after = await bot.conversations.get(c.id);
        assert.equal(after.status, 'queued');
        assert.deepEqual(after.channels, [sf.channels[0].id]);
    });
    await check('tag: the text normalized as documented ("#hashTag, hash !! tag#tag; #hash" stored as "hashTag hash tagtag"), empty actions and results', async () => {
        const c = await fresh('Tags');
        const m = await admin.send(c.id, { type: 'tag', text: '#hashTag, hash !! tag#tag; #hash' });
        assert.equal(m.text, 'hashTag hash tagtag');
        assert.deepEqual(m.actions, []);
        assert.deepEqual(m.results, []);
    });
    await check('outbound: the documented contact conversation (the first agent message names the touchpoint) is active from the start, the bot accepted', async () => {
        const c = await bot.conversations.create({
            organization: org,
            type: 'contact',
            contact: { profile: { name: 'John Johnson', telephone: '+31646280993' } },
            messages: [{ text: 'Hey there. Click link', touchpoint: 'sms', role: 'agent' }, { text: 'Click link', role: 'agent' }]
        });
        assert.equal(c.status, 'active');
        assert.equal(c.touchpoint, 'sms');
        assert.deepEqual([part(c, botId).active, part(c, botId).accepted], [true, true]);
    });
    await check('outbound: the first consumer-facing message of a queued contact conversation names the touchpoint; its poster auto-accepts', async () => {
        const c = await admin.conversations.create({
            contact: { profile: { name: 'Olga', email: 'olga@example.com' } },
            messages: [{ text: 'Hello?', role: 'contact' }]
        });
        assert.equal(c.status, 'queued');
        const octx = await bot.conversation(c.id);
        await octx.say({ text: 'Hi Olga, how can we help?', role: 'agent', touchpoint: 'email' });
        const after = await bot.conversations.get(c.id);
        assert.equal(after.status, 'active');
        assert.equal(after.touchpoint, 'email');
        assert.deepEqual([part(after, botId).active, part(after, botId).accepted], [true, true]);
        assert.deepEqual(after.channels, []);
    });

    // --- Lists: filters, select, populate, pagination -----------------------
    await check('conversations.list with a filter (status=queued) and the X- headers', async () => {
        const list = await bot.conversations.list({ status: 'queued' });
        assert.ok(list.length >= 3);
        assert.ok(list.every((c) => c.status === 'queued'));
        assert.ok(list.some((c) => c.id === conv.id));
        assert.equal(list.headers.total, String(list.length));
        assert.equal(list.headers.totalPages, '1');
        assert.equal(list.headers.range, `1-${list.length}`);
    });
    await check('list filters: array (in), nested object (dot path), regular expression, comparison', async () => {
        const byIds = await bot.conversations.list({ id: [conv.id, cmdConv.id], sort: 'name' });
        assert.deepEqual(byIds.map((c) => c.id), [conv.id, cmdConv.id]);
        // A query on meta needs one of the indexed filters too (the API's rule).
        const byMeta = await bot.conversations.list({ status: 'active', meta: { topic: 'cars' } });
        assert.deepEqual(byMeta.map((c) => c.id), [cmdConv.id]);
        const byRe = await bot.conversations.list({ name: '~^renam' });
        assert.deepEqual(byRe.map((c) => c.id), [cmdConv.id]);
        const byDate = await bot.conversations.list({ createdAt: '>2000-01-01', limit: 2 });
        assert.equal(byDate.length, 2);
        const none = await bot.conversations.list({ createdAt: '<2000-01-01' });
        assert.equal(none.length, 0);
    });
    await check('conversations.get with populate and select', async () => {
        const got = await bot.conversations.get(conv.id, { populate: 'messages', select: 'name,messages' });
        assert.equal(got.name, 'Conformance');
        assert.equal(got.status, undefined, 'select leaves other fields out');
        assert.equal(got.messages[0].text, 'Hello');
        assert.equal(got.messages[1].text, '/notify');
    });
    await check('list with select and populate with a field list', async () => {
        const list = await bot.conversations.list({ id: conv.id, select: 'participants', populate: 'participants.user:givenName' });
        assert.equal(list.length, 1);
        assert.equal(list[0].name, undefined);
        const p = list[0].participants.find((x) => x.user && x.user.id === botId);
        assert.ok(p, 'the bot participant is populated');
        assert.equal(p.user.givenName, 'Awesome');
        assert.equal(p.user.email, undefined, 'only the fields asked for');
    });
    let contacts;
    await check('pagination: chipchat follows the Link headers (pagination.limit 2) and gets every document', async () => {
        for (let i = 0; i < 5; i += 1) {
            // eslint-disable-next-line no-await-in-loop
            await admin.contacts.create({ organization: org, profile: { name: `Paged ${i}`, email: `paged${i}@example.com` } });
        }
        const paged = chip({ host: info.host, token: info.tokens.bot, pagination: { limit: 2, backoff: 1 } });
        paged.on('error', () => {});
        contacts = await paged.contacts.list({ 'profile.name': '~^paged' });
        assert.equal(contacts.length, 5);
        const whole = await bot.contacts.list({ 'profile.name': '~^paged' });
        assert.deepEqual(contacts.map((c) => c.id), whole.map((c) => c.id));
        const page2 = await bot.contacts.list({ 'profile.name': '~^paged', offset: 2, limit: 2 });
        assert.deepEqual(page2.map((c) => c.id), whole.slice(2, 4).map((c) => c.id));
        assert.equal(page2.headers.totalPages, '3');
        assert.equal(page2.headers.page, '2');
    });

    // --- Update and delete ---------------------------------------------------
    await check('conversations.update (PATCH) and users.update', async () => {
        const up = await bot.conversations.update(conv.id, { name: 'Updated by chipchat' });
        assert.equal(up.name, 'Updated by chipchat');
        assert.equal((await bot.conversations.get(conv.id)).name, 'Updated by chipchat');
        const user = await admin.users.update(bob, { familyName: 'Builder' });
        assert.equal(user.familyName, 'Builder');
    });
    await check('contacts.delete, then contacts.get answers 404', async () => {
        await bot.contacts.delete(contacts[0].id);
        await rejectsWith(bot.contacts.get(contacts[0].id), 404, 'Contact not found');
    });

    // --- Errors ----------------------------------------------------------------
    await check('errors: 404, 400, 422 and 403 reach chipchat with the API message', async () => {
        await rejectsWith(bot.conversations.get('5bb0277fd99faf11a3f4a37e'), 404, 'Conversation not found');
        await rejectsWith(bot.conversations.get('not-an-id'), 400);
        await rejectsWith(bot.conversations.create({ type: 'robot' }), 422, 'type must be one of contact, bot, agent or system');
        const guest = chip({ host: info.host, token: info.tokens.guest });
        guest.on('error', () => {});
        await rejectsWith(guest.users.list(), 403, 'Permission denied');
    });
    await check('errors: 401 "invalid signature" for a forged token, without a refresh', async () => {
        const parts = info.tokens.bot.split('.');
        const forged = chip({ host: info.host, token: `${parts[0]}.${parts[1]}.${parts[2].split('').reverse().join('')}` });
        forged.on('error', () => {});
        const before = await authRequests(info);
        await rejectsWith(forged.users.list(), 401, 'invalid signature');
        assert.equal(await authRequests(info), before, 'no refresh without a refresh token');
    });

    // --- Limits: the request rate and the bot loop limits ---------------------
    await check('rate limit: beyond 20 requests in a sliding second from one token and address, 429 with Retry-After', async () => {
        await sleep(1100); // start from an empty window
        const burst = await Promise.all(Array.from({ length: 30 }, () => httpJSON('GET', `${info.url}users/${botId}`, undefined,
            { headers: { Authorization: `Bearer ${info.tokens.bot}` }, unpaced: true })));
        const limited = burst.filter((r) => r.status === 429);
        assert.ok(limited.length >= 1, 'some requests refused');
        assert.ok(burst.filter((r) => r.status === 200).length >= 20, 'the first 20 served');
        assert.equal(limited.length + burst.filter((r) => r.status === 200).length, burst.length);
        for (const r of limited) {
            assert.match(r.headers['retry-after'], /^[1-9][0-9]*$/);
            assert.equal(r.json.error.message, 'Too many requests');
        }
        await sleep(1100); // let the window empty again
    });
    await check('rate limit: a GET refused with 429 and Retry-After: 1 is retried by chipchat after the wait, and succeeds', async () => {
        await control(info, 'POST', 'faults', { method: 'GET', path: `/v2/users/${alice}`, status: 429, retryAfter: '1', count: 1 });
        const t0 = Date.now();
        const user = await bot.users.get(alice);
        assert.equal(user.id, alice);
        assert.ok(Date.now() - t0 >= 900, 'chipchat waited for Retry-After');
        const reqs = (await control(info, 'GET', `requests?path=/v2/users/${alice}`)).requests;
        assert.deepEqual(reqs.slice(-2).map((r) => r.status), [429, 200]);
    });
    await check('loop limit: the 9th identical bot message within 3 minutes is refused with 429 and a Retry-After of up to 3 minutes', async () => {
        const c = await fresh('Loop identical');
        await bot.send(c.id, Array.from({ length: 8 }, () => ({ text: 'Same again' })));
        const err = await rejectsWith(bot.send(c.id, { text: 'Same again' }), 429, 'Loop limit: more than 8 identical messages in 3 minutes');
        const wait = Number(err.response && err.response.headers['retry-after']);
        assert.ok(wait > 0 && wait <= 180, `Retry-After ${wait}`);
        const stored = await admin.messages.list({ conversation: c.id, text: 'Same again' });
        assert.equal(stored.length, 8, 'the refused message was not stored');
    });
    await check('loop limit: the 21st consecutive bot message within an hour is refused; a reply by an agent resets the count', async () => {
        const c = await fresh('Loop consecutive'); // its first message is the bot's
        await bot.send(c.id, Array.from({ length: 19 }, (_, i) => ({ text: `line ${i + 1}` })));
        await rejectsWith(bot.send(c.id, { text: 'one more' }), 429, 'Loop limit: more than 20 consecutive messages in an hour');
        await admin.send(c.id, { text: 'An agent answers', role: 'agent' });
        assert.equal((await bot.send(c.id, { text: 'one more' })).text, 'one more');
    });

    // --- Token refresh ---------------------------------------------------------
    await check('token refresh: an expired access token is refreshed once (clientId + refreshToken) and the call retried', async () => {
        // chipchat has no login call: POST /v2/auth/token as its docs describe.
        const res = await httpJSON('POST', `${info.url}auth/token`, { email: info.users.bot.email, password: info.users.bot.password });
        assert.equal(res.status, 201, res.text);
        const login = res.json;
        const claims = ChipChat.decodeJwt(login.token);
        assert.equal(claims.grant_type, 'access_token');
        assert.equal(claims.organization, org);
        const refreshing = chip({
            host: info.host, token: login.token, refreshToken: login.refreshToken, email: info.users.bot.email
        });
        refreshing.on('error', () => {});
        assert.equal(refreshing.auth.refreshToken, login.refreshToken, 'chipchat enables refresh for a bot scope');
        assert.equal((await refreshing.users.get(botId)).id, botId);
        await control(info, 'POST', 'clock', { advance: '2h' });
        const before = await authRequests(info);
        const newToken = once(refreshing, 'token');
        const user = await refreshing.users.get(botId);
        assert.equal(user.id, botId);
        const [token] = await within(newToken, 5000, 'the token event');
        assert.notEqual(token, login.token);
        assert.equal(refreshing.auth.token, token);
        assert.equal(await authRequests(info), before + 1, 'exactly one refresh request');

        // A refused refresh: a wrong clientId, then a malformed refresh token.
        for (const [email, refreshToken] of [['someone@example.com', login.refreshToken], [info.users.bot.email, 'xyz']]) {
            const refused = chip({ host: info.host, token: login.token, refreshToken, email });
            refused.on('error', () => {});
            const n = await authRequests(info);
            let err;
            // eslint-disable-next-line no-await-in-loop
            await within(refused.users.get(botId).catch((e) => { err = e; }), 10000,
                'the call with a refused refresh to fail (a refresh loop?)');
            assert.ok(err, 'the call fails');
            // chipchat gives up after the refused refresh; its error hook puts
            // the original 401's message back on the error it rejects with.
            assert.equal(err.statusCode, 401);
            // eslint-disable-next-line no-await-in-loop
            assert.equal(await authRequests(info), n + 1, 'one refresh attempt, no loop');
        }
    });

    // --- Webhooks: chipchat's receivers ----------------------------------------
    await check('webhook: bot.httpMiddleware() answers the challenge, gets the first event right after services.create, signature checked', async () => {
        const receiver = chip({ host: info.host, token: info.tokens.bot, secret: SECRET });
        const errors = [];
        receiver.on('error', (e) => errors.push(e));
        const server = http.createServer(receiver.httpMiddleware());
        const port = await listen(server);
        try {
            const svc = await admin.services.create({
                name: 'chipchat httpMiddleware',
                type: 'webhook',
                params: { url: `http://127.0.0.1:${port}/`, secret: SECRET, events: ['message.create.contact.*'] }
            });
            assert.equal(svc.status, 'unverified', 'the create answers before the challenge');
            const got = once(receiver, 'message.create.contact.chat');
            // Right after the create, before the challenge has necessarily run.
            const c = await admin.conversations.create({
                contact: { profile: { name: 'Jenny', email: 'jenny@example.com' } },
                messages: [{ text: 'Hi from Jenny', role: 'contact' }]
            });
            const [message, mctx] = await within(got, 10000, 'message.create.contact.chat');
            assert.equal(message.text, 'Hi from Jenny');
            assert.equal(message.role, 'contact');
            assert.equal(mctx.id, c.id);
            assert.equal((await admin.services.get(svc.id)).status, 'active');
            await waitDeliveries(info);
            assert.deepEqual(errors, []);
            await admin.services.delete(svc.id);
        } finally {
            server.close();
        }
    });

    await check('webhook: bot.start() (express router) verifies GET ?type=subscribe&challenge and receives signed events; ask() gets its answer', async () => {
        const port = await freePort();
        const receiver = chip({ host: info.host, token: info.tokens.bot, secret: SECRET, webhook: '/hooks/chipchat' });
        const errors = [];
        receiver.on('error', (e) => errors.push(e));
        const ready = once(receiver, 'ready');
        const log = console.log;
        console.log = () => {}; // bot.start prints a banner
        receiver.start(port);
        try {
            await within(ready, 5000, 'bot.start');
        } finally {
            console.log = log;
        }
        try {
            const svc = await admin.services.create({
                name: 'chipchat router',
                type: 'webhook',
                params: { url: `http://127.0.0.1:${port}/hooks/chipchat`, secret: SECRET, events: ['message.create.**', 'conversation.update'] }
            });
            const first = once(receiver, 'message.create.contact.chat');
            const c = await admin.conversations.create({
                contact: { profile: { name: 'Ask', email: 'ask@example.com' } },
                messages: [{ text: 'I have a question', role: 'contact' }]
            });
            const [m1] = await within(first, 10000, 'the first contact message');
            assert.equal(m1.text, 'I have a question');

            // ask(): the bot asks, the contact answers, the webhook brings the answer.
            const qctx = await receiver.conversation(c.id);
            const updated = once(receiver, 'conversation.update');
            const answer = qctx.ask('What is your name?');
            const [upd] = await within(updated, 10000, 'conversation.update after /set');
            assert.equal(upd.data.conversation.id, c.id);
            // The update came from ask()'s "/set _asked<bot> <message id>", sent
            // after the question and after chipchat registered its reply listener.
            assert.ok(upd.data.conversation.meta[`_asked${botId}`]);
            await waitDeliveries(info);
            await admin.send(c.id, { text: 'Jenny', role: 'contact' });
            const reply = await within(answer, 10000, 'the answer to ask()');
            assert.equal(reply.text, 'Jenny');
            const deliveries = (await waitDeliveries(info)).deliveries.filter((d) => d.service === svc.id);
            assert.ok(deliveries.length >= 3);
            assert.ok(deliveries.every((d) => d.delivered && d.status === 200), JSON.stringify(deliveries));
            assert.deepEqual(errors, [], 'no signature errors');
            await admin.services.delete(svc.id);
        } finally {
            receiver.close();
        }
    });

    await check('webhook: a receiver with the wrong secret rejects the fake\'s signature (chipchat checks it)', async () => {
        const receiver = chip({ host: info.host, token: info.tokens.bot, secret: 'not-the-secret' });
        const errors = [];
        receiver.on('error', (e) => errors.push(e));
        let delivered = 0;
        receiver.on('message', () => { delivered += 1; });
        const server = http.createServer(receiver.httpMiddleware());
        const port = await listen(server);
        try {
            const svc = await admin.services.create({
                name: 'wrong secret', type: 'webhook',
                params: { url: `http://127.0.0.1:${port}/`, secret: SECRET, events: ['message.create.**'] }
            });
            await admin.conversations.create({ messages: [{ text: 'signed with the other secret' }] });
            await waitDeliveries(info);
            assert.equal(delivered, 0);
            assert.ok(errors.some((e) => /integrity check failed/i.test(e.message)), JSON.stringify(errors));
            await admin.services.delete(svc.id);
        } finally {
            server.close();
        }
    });

    // --- Bots: chipchat and a Go bot (webhook package) share the ask protocol --
    // Both run as the same bot user; the question waits in the conversation's
    // meta under _asked<bot user id>, named by the answer, so either can ask
    // and the other answer.
    const goBot = startGoBot(info);
    try {
        const goURL = await goBot.url;
        const asked = `_asked${botId}`;
        const lastAgentText = async (convId) => {
            const msgs = await admin.messages.list({ conversation: convId });
            const agent = msgs.filter((m) => m.role === 'agent');
            return agent.length ? agent[agent.length - 1].text : undefined;
        };

        await check('ask, chipchat to Go: chipchat asks (ask with a callback name), the Go bot answers and clears the marker', async () => {
            const svc = await admin.services.create({
                name: 'go bot', type: 'webhook',
                params: { url: goURL, secret: SECRET, events: ['message.create.contact.*'] }
            });
            try {
                const c = await admin.conversations.create({
                    contact: { profile: { name: 'Colour', email: 'colour@example.com' } },
                    messages: [{ text: 'Hello', role: 'contact' }]
                });
                await waitDeliveries(info);
                const asker = chip({ host: info.host, token: info.tokens.bot });
                asker.on('error', () => {});
                const qctx = await asker.conversation(c.id);
                qctx.ask('What is your favorite color?', 'color');
                await eventually(async () => ((await admin.conversations.get(c.id)).meta || {})[asked] === 'color',
                    10000, "chipchat's /set of the marker");
                await admin.send(c.id, { text: 'blue', role: 'contact' });
                await waitDeliveries(info);
                assert.equal(await lastAgentText(c.id), 'Go bot: blue is a fine color.');
                assert.equal(((await admin.conversations.get(c.id)).meta || {})[asked], '', 'the Go bot cleared the marker');
            } finally {
                await admin.services.delete(svc.id);
            }
        });

        await check('ask, Go to chipchat: the Go bot asks (Conversation.Ask), chipchat answers with registerCallback and clears the marker', async () => {
            const svc = await admin.services.create({
                name: 'go bot asks', type: 'webhook',
                params: { url: goURL, secret: SECRET, events: ['message.create.contact.*'] }
            });
            const c = await admin.conversations.create({
                contact: { profile: { name: 'Couleur', email: 'couleur@example.com' } },
                messages: [{ text: 'go ask', role: 'contact' }]
            });
            await waitDeliveries(info);
            await admin.services.delete(svc.id);
            const conv = await admin.conversations.get(c.id);
            assert.equal((conv.meta || {})[asked], 'color', 'the Go bot set the marker as chipchat does');
            assert.equal(await lastAgentText(c.id), 'What is your favorite color?');

            const port = await freePort();
            const receiver = chip({ host: info.host, token: info.tokens.bot, secret: SECRET, webhook: '/hooks/chipchat-answers' });
            const errors = [];
            receiver.on('error', (e) => errors.push(e));
            const answered = new Promise((resolve) => {
                receiver.registerCallback('color', (m, ctx) => {
                    ctx.say({ text: `chipchat: ${m.text} noted`, role: 'agent' }).then(resolve);
                });
            });
            const ready = once(receiver, 'ready');
            const log = console.log;
            console.log = () => {}; // bot.start prints a banner
            receiver.start(port);
            try {
                await within(ready, 5000, 'bot.start');
            } finally {
                console.log = log;
            }
            try {
                const rsvc = await admin.services.create({
                    name: 'chipchat answers', type: 'webhook',
                    params: { url: `http://127.0.0.1:${port}/hooks/chipchat-answers`, secret: SECRET, events: ['message.create.contact.*'] }
                });
                await admin.send(c.id, { text: 'green', role: 'contact' });
                await within(answered, 10000, "chipchat's registered callback");
                await waitDeliveries(info);
                assert.equal(await lastAgentText(c.id), 'chipchat: green noted');
                assert.equal(((await admin.conversations.get(c.id)).meta || {})[asked], '', 'chipchat cleared the marker');
                assert.deepEqual(errors, []);
                await admin.services.delete(rsvc.id);
            } finally {
                receiver.close();
            }
        });

        // --- chipchat's event aliases, from chipchat and from the Go bot ---------
        // The same deliveries reach a chipchat receiver (its notify, assign,
        // command and mention events) and the Go bot (OnNotify, OnAssign,
        // OnCommand, OnMention), which reports what each message raised.
        const goAliases = async (messageId) => {
            const res = await httpJSON('GET', `${goURL}/aliases?message=${messageId}`);
            assert.equal(res.status, 200, res.text);
            return res.json.aliases;
        };
        const aliasReceiver = chip({ host: info.host, token: info.tokens.bot, secret: SECRET });
        const chipAliases = {};
        for (const name of ['notify', 'assign', 'command', 'mention']) {
            aliasReceiver.on(name, (m) => { (chipAliases[m.id] = chipAliases[m.id] || []).push(name); });
        }
        const aliasServer = http.createServer(aliasReceiver.httpMiddleware());
        const aliasPort = await listen(aliasServer);
        const aliasSvcs = [];
        let aliasConv;
        try {
            await check('event aliases: chipchat and the Go bot receive every message event; a plain message raises no alias', async () => {
                for (const url of [`http://127.0.0.1:${aliasPort}/`, goURL]) {
                    // eslint-disable-next-line no-await-in-loop
                    aliasSvcs.push(await admin.services.create({
                        name: `aliases ${url}`, type: 'webhook', params: { url, secret: SECRET, events: ['message.create.**'] }
                    }));
                }
                aliasConv = await admin.conversations.create({ name: 'Aliases', messages: [{ text: 'Hello bots' }] });
                await waitDeliveries(info);
                const first = aliasConv.messages[0];
                assert.deepEqual(chipAliases[first] || [], [], 'chipchat');
                assert.deepEqual(await goAliases(first), [], 'the Go bot');
            });
            const aliasCase = (name, msg, want) => check(name, async () => {
                const m = await admin.send(aliasConv.id, msg);
                await waitDeliveries(info);
                assert.deepEqual((chipAliases[m.id] || []).slice().sort(), want, 'chipchat');
                assert.deepEqual(await goAliases(m.id), want, 'the Go bot');
            });
            await aliasCase('event aliases: an /assign naming the bot raises assign and notify, in chipchat and in the Go bot',
                { type: 'command', text: '/assign', meta: { users: [botId] } }, ['assign', 'notify']);
            await aliasCase('event aliases: a bot command (">onboard") raises command and notify, in chipchat and in the Go bot',
                { type: 'command', text: '>onboard' }, ['command', 'notify']);
            await aliasCase('event aliases: a mention of the bot (meta.targetUser) raises mention and notify, in chipchat and in the Go bot',
                { type: 'mention', text: '@Awesome Bot have a look', meta: { targetUser: botId } }, ['mention', 'notify']);
            await aliasCase('event aliases: a mention of another user raises none, in chipchat and in the Go bot',
                { type: 'mention', text: '@Bob Agent have a look', meta: { targetUser: bob } }, []);
        } finally {
            for (const svc of aliasSvcs) {
                // eslint-disable-next-line no-await-in-loop
                await admin.services.delete(svc.id).catch(() => {});
            }
            aliasServer.close();
        }

        await check('bots: the Go bot answers GET <path>/ping as chipchat\'s router does', async () => {
            const res = await httpJSON('GET', goURL.replace(/\/hooks\/go$/, '/hooks/go/ping'));
            assert.equal(res.status, 200);
            assert.match(res.json.pong, /^[0-9]+$/);
        });
    } finally {
        goBot.stop();
    }

    // --- The control API for tests in other languages --------------------------
    await check('chatshipper-fake control API: POST /_fake/reset brings back the start (the seed file only), the tokens still work', async () => {
        const after = await control(info, 'POST', 'reset');
        assert.deepEqual(after.seedFile, info.seedFile);
        assert.deepEqual(after.users, info.users);
        const list = await bot.conversations.list({});
        assert.deepEqual(list.map((c) => c.id), info.seedFile.conversations.map((c) => c.id));
    });
}

// summary prints the mismatches again, the summary and the count line.
function summary(started, stopped) {
    const failed = results.filter((r) => !r.ok);
    const passed = results.length - failed.length;
    if (failed.length) {
        console.log('Mismatches:');
        failed.forEach((r) => console.log(`  - ${r.name}: ${r.message}`));
    }
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const version = require('chipchat/package.json').version;
    console.log(`chipchat ${version} against chatshipper-fake: ${results.length} operations checked in ${secs} s, `
        + `${failed.length} mismatches${stopped ? `; the run stopped early: ${stopped}` : ''}`);
    const nFailed = failed.length + (stopped ? 1 : 0);
    console.log(`${passed} passed, ${nFailed} failed`);
    return nFailed === 0 ? 0 : 1;
}

(async () => {
    const started = Date.now();
    setTimeout(() => {
        process.exit(summary(started, `no result after ${RUN_TIMEOUT / 1000} s`));
    }, RUN_TIMEOUT).unref();
    const { child, info: infoP } = startServer();
    let stopped;
    try {
        const info = await infoP;
        console.log(`chipchat ${require('chipchat/package.json').version} against chatshipper-fake at ${info.url} `
            + '(rate limit 20/s per token and per IP; loop limits 8 identical in 3 min, 20 consecutive in 1 h)');
        await main(info);
    } catch (e) {
        stopped = (e && e.message) || String(e);
        console.log(`FAIL the run stopped: ${e && e.stack}`);
    } finally {
        child.stdin.end();
        child.kill('SIGTERM');
    }
    process.exit(summary(started, stopped));
})();
