// Lists 200 conversations with the Node SDK in a loop for SECONDS against the
// page server of jsonbench; prints one JSON line like jsonbench list. READ is
// what is done with each conversation's meta, as jsonbench list does it: none
// (the default), get (read one key the page has) or map (a shallow copy of
// the meta object, which is what Go's Object.Map hands out: a new map).
'use strict';
const ChipChat = require('chipchat');

const [base, secs, read = 'none'] = process.argv.slice(2);
const metaKey = 'intent'; // every conversation of the page has it, a string
const readers = {
    none: () => true,
    get: (c) => typeof c.meta[metaKey] === 'string' && c.meta[metaKey] !== '',
    map: (c) => Object.keys({ ...c.meta }).length > 0,
};
const readMeta = readers[read];
if (!readMeta) throw new Error(`READ must be none, get or map, not ${read}`);
// An unsigned JWT naming a user, as the SDK decodes (never verifies) it; the
// page server does not check it.
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const token = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ _id: 'aaa000000000000000000111', scope: 'agent', exp: 4102444800 })}.x`;
const bot = new ChipChat({ host: base, token, preloadBots: false });
const elapsed = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

async function page() {
    const convs = await bot.conversations.list({ limit: 200 });
    if (convs.length !== 200) throw new Error(`got ${convs.length}`);
    for (const c of convs) if (!readMeta(c)) throw new Error(`conversation ${c.id}: meta not read (${read})`);
}

async function main() {
    const w0 = process.hrtime.bigint();
    while (elapsed(w0) < 0.5) await page(); // warm up: connection, JIT
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    let n = 0;
    while (elapsed(t0) < Number(secs)) {
        await page();
        n++;
    }
    const wall = elapsed(t0);
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    console.log(JSON.stringify({ who: `node ${process.version} chipchat`, what: 'list200', read, ops: n, seconds: wall,
        cpuSeconds, opsPerSec: n / wall, cpuMsPerOp: 1000 * cpuSeconds / n, cpuShare: cpuSeconds / wall }));
}
main().catch((e) => { console.error(e); process.exit(1); });
