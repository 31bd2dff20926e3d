// Lists 200 conversations with the Node SDK in a loop for SECONDS against the
// page server of jsonbench; prints one JSON line like jsonbench list.
'use strict';
const ChipChat = require('chipchat');

const [base, secs] = process.argv.slice(2);
// An unsigned JWT naming a user, as the SDK decodes (never verifies) it; the
// page server does not check it.
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const token = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ _id: 'aaa000000000000000000111', scope: 'agent', exp: 4102444800 })}.x`;
const bot = new ChipChat({ host: base, token, preloadBots: false });

async function main() {
    await bot.conversations.list({ limit: 200 }); // warm up
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    let n = 0;
    while (Number(process.hrtime.bigint() - t0) / 1e9 < Number(secs)) {
        const convs = await bot.conversations.list({ limit: 200 });
        if (convs.length !== 200) throw new Error(`got ${convs.length}`);
        n++;
    }
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    console.log(JSON.stringify({ who: `node ${process.version} chipchat`, what: 'list200', ops: n, seconds: wall,
        cpuSeconds: (cpu.user + cpu.system) / 1e6, opsPerSec: n / wall }));
}
main().catch((e) => { console.error(e); process.exit(1); });
