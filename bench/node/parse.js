// Times V8's JSON.parse of the page for SECONDS; prints one JSON line like
// jsonbench decode.
'use strict';
const fs = require('fs');

const [file, secs] = process.argv.slice(2);
const text = fs.readFileSync(file, 'utf8');
for (let i = 0; i < 50; i++) JSON.parse(text); // warm up
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
let n = 0;
while (Number(process.hrtime.bigint() - t0) / 1e9 < Number(secs)) {
    if (JSON.parse(text).length !== 200) throw new Error('bad page');
    n++;
}
const wall = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ who: `node ${process.version}`, what: 'decode200', ops: n, seconds: wall,
    cpuSeconds: (cpu.user + cpu.system) / 1e6, opsPerSec: n / wall }));
