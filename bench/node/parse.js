// Times V8's JSON.parse of the page for SECONDS; prints one JSON line like
// jsonbench decode.
'use strict';
const fs = require('fs');

const [file, secs] = process.argv.slice(2);
const text = fs.readFileSync(file, 'utf8');
const elapsed = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
const once = () => { if (JSON.parse(text).length !== 200) throw new Error('bad page'); };
const w0 = process.hrtime.bigint();
while (elapsed(w0) < 0.5) once(); // warm up
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
let n = 0;
while (elapsed(t0) < Number(secs)) {
    once();
    n++;
}
const wall = elapsed(t0);
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
console.log(JSON.stringify({ who: `node ${process.version}`, what: 'decode200', ops: n, seconds: wall,
    cpuSeconds, opsPerSec: n / wall, cpuMsPerOp: 1000 * cpuSeconds / n, cpuShare: cpuSeconds / wall }));
