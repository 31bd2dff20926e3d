'use strict';

// Conformance: drives the chatshippertest fake server through chipchat, the
// official ChatShipper Node SDK, using only chipchat's documented API, and
// checks every answer. It prints one line per operation checked and exits
// non-zero on the first mismatch. See README.md.

const { spawn } = require('child_process');
const http = require('http');
const net = require('net');
const path = require('path');
const readline = require('readline');
const assert = require('assert').strict;
const ChipChat = require('chipchat');

const repoRoot = path.resolve(__dirname, '..');
const SECRET = 'conformance-webhook-secret';
const checked = [];

class Mismatch extends Error {}

// check runs one operation; the first failure ends the program.
async function check(name, fn) {
    try {
        await fn();
    } catch (e) {
        console.log(`FAIL ${name}: ${e && e.message}`);
        throw new Mismatch(name);
    }
    checked.push(name);
    console.log(`ok   ${name}`);
}

// within resolves with promise's value, or rejects after ms.
function within(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// once resolves with the arguments of the next emit of event on emitter.
function once(emitter, event) {
    return new Promise((resolve) => {
        emitter.once(event, (...args) => resolve(args));
    });
}

// rejectsWith checks that promise rejects with an HTTP status and message.
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
}

// startServer runs the Go program that starts the fake and reads its info line.
function startServer() {
    const cmd = process.env.CONFORMANCE_SERVER;
    const child = cmd
        ? spawn(cmd, [], { stdio: ['pipe', 'pipe', 'inherit'] })
        : spawn('go', ['run', './conformance/server'], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] });
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
        TOKEN: info.token,
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
        await new Promise((r) => setTimeout(r, 20));
    }
}

// httpJSON makes a plain HTTP request with an optional JSON body and returns
// the status and decoded body (no global fetch: old Node versions lack it).
function httpJSON(method, url, body) {
    return new Promise((resolve, reject) => {
        const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
        const req = http.request(url, {
            method,
            headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}
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
                resolve({ status: res.statusCode, text, json });
            });
        });
        req.on('error', reject);
        if (data) req.write(data);
        req.end();
    });
}

// control calls the conformance server's control API.
async function control(info, method, pathAndQuery) {
    const res = await httpJSON(method, info.control + pathAndQuery);
    assert.equal(res.status, 200, `control ${pathAndQuery}: ${res.text}`);
    return res.json;
}

async function authRequests(info) {
    return (await control(info, 'GET', '/requests?path=/v2/auth/token')).count;
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

async function main(info) {
    const seed = info.seed;
    const org = seed.OrganizationID;
    const [alice, bob] = seed.AgentUserIDs;
    const bot = new ChipChat({ host: info.host, token: info.token });
    const admin = new ChipChat({ host: info.host, token: info.adminToken });
    // chipchat only emits errors to listeners; keep them from being unhandled.
    bot.on('error', () => {});
    admin.on('error', () => {});

    // --- Tokens -------------------------------------------------------------
    await check('token claims: _id, organization, grant_type, cumulative scope (ChipChat.decodeJwt, bot.auth)', () => {
        const claims = ChipChat.decodeJwt(info.token);
        assert.equal(claims._id, seed.BotUserID);
        assert.equal(claims.organization, org);
        assert.equal(claims.grant_type, 'access_token');
        assert.equal(claims.scope, 'viewer guest agent bot');
        assert.equal(ChipChat.decodeJwt(info.adminToken).scope, 'viewer guest agent bot admin');
        assert.equal(bot.auth.user, seed.BotUserID);
        assert.equal(bot.auth.organization, org);
    });

    // --- Create with /notify ------------------------------------------------
    let conv;
    await check('conversations.create with a /notify command: queued, every channel of the organization', async () => {
        conv = await bot.conversations.create({
            name: 'Conformance',
            messages: [{ text: 'Hello' }, { type: 'command', text: '/notify' }]
        });
        assert.equal(conv.status, 'queued');
        assert.deepEqual(conv.channels, seed.ChannelIDs);
        assert.equal(conv.messages.length, 2);
        assert.equal(conv.organization, org);
    });
    await check('conversations.create with /notify meta.channels', async () => {
        const c = await bot.conversations.create({
            name: 'Conformance one channel',
            messages: [{ text: 'Hello' }, { type: 'command', text: '/notify', meta: { channels: [seed.ChannelIDs[1]] } }]
        });
        assert.equal(c.status, 'queued');
        assert.deepEqual(c.channels, [seed.ChannelIDs[1]]);
    });

    // --- Command helpers of the conversation context ------------------------
    const fresh = async (name) => {
        const c = await bot.conversations.create({ name, messages: [{ text: 'Hello' }] });
        assert.equal(c.status, 'closed', 'a conversation nobody was notified about starts closed');
        return c;
    };
    const part = (c, user) => (c.participants || []).find((p) => p.user === user) || {};

    await check('conversation.notify(channels): sends meta.organizations null, queues on those channels', async () => {
        const c = await fresh('Notify channels');
        const ctx = await bot.conversation(c.id);
        const msg = await ctx.notify([seed.ChannelIDs[0]]);
        assert.deepEqual(msg.meta, { channels: [seed.ChannelIDs[0]], organizations: null });
        const after = await bot.conversations.get(c.id);
        assert.equal(after.status, 'queued');
        assert.deepEqual(after.channels, [seed.ChannelIDs[0]]);
    });
    await check('conversation.notify([], organizations): sends meta.channels null, queues on the organization', async () => {
        const c = await fresh('Notify organization');
        const ctx = await bot.conversation(c.id);
        const msg = await ctx.notify([], [org]);
        assert.deepEqual(msg.meta, { channels: null, organizations: [org] });
        const after = await bot.conversations.get(c.id);
        assert.equal(after.status, 'queued');
        assert.deepEqual(after.channels, seed.ChannelIDs);
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
        assert.equal(part(after, seed.BotUserID).accepted, true);
        assert.deepEqual(after.channels, []);
    });
    await check('conversation.say(text) and bot.send(id, [messages])', async () => {
        const said = await ctx.say('Hello from chipchat');
        assert.equal(said.text, 'Hello from chipchat');
        assert.equal(said.role, 'bot');
        assert.equal(said.user, seed.BotUserID);
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
        assert.equal(part(after, seed.BotUserID).active, false);
    });
    await check('conversation.join(): re-opens the closed conversation (active), the bot active, not accepted', async () => {
        await ctx.join();
        const after = await bot.conversations.get(cmdConv.id);
        assert.equal(after.status, 'active');
        assert.equal(part(after, seed.BotUserID).active, true);
        assert.notEqual(part(after, seed.BotUserID).accepted, true);
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
        const p = list[0].participants.find((x) => x.user && x.user.id === seed.BotUserID);
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
        const paged = new ChipChat({ host: info.host, token: info.token, pagination: { limit: 2, backoff: 1 } });
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
        const guest = new ChipChat({ host: info.host, token: info.guestToken });
        guest.on('error', () => {});
        await rejectsWith(guest.users.list(), 403, 'Permission denied');
    });
    await check('errors: 401 "invalid signature" for a forged token, without a refresh', async () => {
        const parts = info.token.split('.');
        const forged = new ChipChat({ host: info.host, token: `${parts[0]}.${parts[1]}.${parts[2].split('').reverse().join('')}` });
        forged.on('error', () => {});
        const before = await authRequests(info);
        await rejectsWith(forged.users.list(), 401, 'invalid signature');
        assert.equal(await authRequests(info), before, 'no refresh without a refresh token');
    });

    // --- Token refresh ---------------------------------------------------------
    await check('token refresh: an expired access token is refreshed once (clientId + refreshToken) and the call retried', async () => {
        // chipchat has no login call: POST /v2/auth/token as its docs describe.
        const res = await httpJSON('POST', `${info.url}auth/token`, { email: seed.BotEmail, password: seed.BotPassword });
        assert.equal(res.status, 201, res.text);
        const login = res.json;
        const claims = ChipChat.decodeJwt(login.token);
        assert.equal(claims.grant_type, 'access_token');
        assert.equal(claims.organization, org);
        const refreshing = new ChipChat({
            host: info.host, token: login.token, refreshToken: login.refreshToken, email: seed.BotEmail
        });
        refreshing.on('error', () => {});
        assert.equal(refreshing.auth.refreshToken, login.refreshToken, 'chipchat enables refresh for a bot scope');
        assert.equal((await refreshing.users.get(seed.BotUserID)).id, seed.BotUserID);
        await control(info, 'POST', '/advance?by=2h');
        const before = await authRequests(info);
        const newToken = once(refreshing, 'token');
        const user = await refreshing.users.get(seed.BotUserID);
        assert.equal(user.id, seed.BotUserID);
        const [token] = await within(newToken, 5000, 'the token event');
        assert.notEqual(token, login.token);
        assert.equal(refreshing.auth.token, token);
        assert.equal(await authRequests(info), before + 1, 'exactly one refresh request');

        // A refused refresh: a wrong clientId, then a malformed refresh token.
        for (const [email, refreshToken] of [['someone@example.com', login.refreshToken], [seed.BotEmail, 'xyz']]) {
            const refused = new ChipChat({ host: info.host, token: login.token, refreshToken, email });
            refused.on('error', () => {});
            const n = await authRequests(info);
            let err;
            // eslint-disable-next-line no-await-in-loop
            await within(refused.users.get(seed.BotUserID).catch((e) => { err = e; }), 10000,
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
        const receiver = new ChipChat({ host: info.host, token: info.token, secret: SECRET });
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
            await control(info, 'POST', '/wait');
            assert.deepEqual(errors, []);
            await admin.services.delete(svc.id);
        } finally {
            server.close();
        }
    });

    await check('webhook: bot.start() (express router) verifies GET ?type=subscribe&challenge and receives signed events; ask() gets its answer', async () => {
        const port = await freePort();
        const receiver = new ChipChat({ host: info.host, token: info.token, secret: SECRET, webhook: '/hooks/chipchat' });
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
            assert.ok(upd.data.conversation.meta[`_asked${seed.BotUserID}`]);
            await control(info, 'POST', '/wait');
            await admin.send(c.id, { text: 'Jenny', role: 'contact' });
            const reply = await within(answer, 10000, 'the answer to ask()');
            assert.equal(reply.text, 'Jenny');
            const deliveries = (await control(info, 'POST', '/wait')).deliveries.filter((d) => d.Service === svc.id);
            assert.ok(deliveries.length >= 3);
            assert.ok(deliveries.every((d) => d.Delivered && d.Status === 200), JSON.stringify(deliveries));
            assert.deepEqual(errors, [], 'no signature errors');
            await admin.services.delete(svc.id);
        } finally {
            receiver.close();
        }
    });

    await check('webhook: a receiver with the wrong secret rejects the fake\'s signature (chipchat checks it)', async () => {
        const receiver = new ChipChat({ host: info.host, token: info.token, secret: 'not-the-secret' });
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
            await control(info, 'POST', '/wait');
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
        const asked = `_asked${seed.BotUserID}`;
        const lastAgentText = async (convId) => {
            const msgs = await admin.messages.list({ conversation: convId });
            const agent = msgs.filter((m) => m.role === 'agent');
            return agent.length ? agent[agent.length - 1].text : undefined;
        };

        await check('bots: chipchat asks (ask with a callback name), the Go bot answers and clears the marker', async () => {
            const svc = await admin.services.create({
                name: 'go bot', type: 'webhook',
                params: { url: goURL, secret: SECRET, events: ['message.create.contact.*'] }
            });
            try {
                const c = await admin.conversations.create({
                    contact: { profile: { name: 'Colour', email: 'colour@example.com' } },
                    messages: [{ text: 'Hello', role: 'contact' }]
                });
                await control(info, 'POST', '/wait');
                const asker = new ChipChat({ host: info.host, token: info.token });
                asker.on('error', () => {});
                const qctx = await asker.conversation(c.id);
                qctx.ask('What is your favorite color?', 'color');
                await eventually(async () => ((await admin.conversations.get(c.id)).meta || {})[asked] === 'color',
                    10000, "chipchat's /set of the marker");
                await admin.send(c.id, { text: 'blue', role: 'contact' });
                await control(info, 'POST', '/wait');
                assert.equal(await lastAgentText(c.id), 'Go bot: blue is a fine color.');
                assert.equal(((await admin.conversations.get(c.id)).meta || {})[asked], '', 'the Go bot cleared the marker');
            } finally {
                await admin.services.delete(svc.id);
            }
        });

        await check('bots: the Go bot asks (Conversation.Ask), chipchat answers with registerCallback and clears the marker', async () => {
            const svc = await admin.services.create({
                name: 'go bot asks', type: 'webhook',
                params: { url: goURL, secret: SECRET, events: ['message.create.contact.*'] }
            });
            const c = await admin.conversations.create({
                contact: { profile: { name: 'Couleur', email: 'couleur@example.com' } },
                messages: [{ text: 'go ask', role: 'contact' }]
            });
            await control(info, 'POST', '/wait');
            await admin.services.delete(svc.id);
            const conv = await admin.conversations.get(c.id);
            assert.equal((conv.meta || {})[asked], 'color', 'the Go bot set the marker as chipchat does');
            assert.equal(await lastAgentText(c.id), 'What is your favorite color?');

            const port = await freePort();
            const receiver = new ChipChat({ host: info.host, token: info.token, secret: SECRET, webhook: '/hooks/chipchat-answers' });
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
                await control(info, 'POST', '/wait');
                assert.equal(await lastAgentText(c.id), 'chipchat: green noted');
                assert.equal(((await admin.conversations.get(c.id)).meta || {})[asked], '', 'chipchat cleared the marker');
                assert.deepEqual(errors, []);
                await admin.services.delete(rsvc.id);
            } finally {
                receiver.close();
            }
        });

        await check('bots: the Go bot answers GET <path>/ping as chipchat\'s router does', async () => {
            const res = await httpJSON('GET', goURL.replace(/\/hooks\/go$/, '/hooks/go/ping'));
            assert.equal(res.status, 200);
            assert.match(res.json.pong, /^[0-9]+$/);
        });
    } finally {
        goBot.stop();
    }
}

(async () => {
    const started = Date.now();
    // A hang (a refresh loop, a lost webhook event) is a failure too.
    setTimeout(() => {
        console.log(`FAIL no result after 120 s; ${checked.length} operations matched before`);
        process.exit(1);
    }, 120000).unref();
    const { child, info: infoP } = startServer();
    let code = 0;
    try {
        const info = await infoP;
        console.log(`chipchat ${require('chipchat/package.json').version} against the fake at ${info.url}`);
        await main(info);
        console.log(`PASS ${checked.length} operations checked in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } catch (e) {
        if (!(e instanceof Mismatch)) {
            console.log(`FAIL ${e && e.stack}`);
        }
        console.log(`${checked.length} operations matched before the failure`);
        code = 1;
    } finally {
        child.stdin.end();
        child.kill('SIGTERM');
    }
    process.exit(code);
})();
