// Parses each master playlist given on the command line with the m3u8-parser npm package
// (video.js's HLS parser) and checks it: the stream count in the file name
// (L<level>-<device>-<count>.m3u8), and every stream has BANDWIDTH, AVERAGE-BANDWIDTH,
// RESOLUTION, CODECS and FRAME-RATE, with bandwidths descending. Exit 1 on a failure.
const fs = require('fs');
const path = require('path');
const { Parser } = require('m3u8-parser');

let failures = 0;
for (const file of process.argv.slice(2)) {
  const parser = new Parser();
  parser.push(fs.readFileSync(file, 'utf8'));
  parser.end();
  const lists = parser.manifest.playlists || [];
  const want = Number(path.basename(file).split('-')[2].split('.')[0]);
  const problems = [];
  if (lists.length !== want) problems.push(`${lists.length} streams, want ${want}`);
  let last = Infinity;
  for (const p of lists) {
    const a = p.attributes || {};
    for (const key of ['BANDWIDTH', 'AVERAGE-BANDWIDTH', 'RESOLUTION', 'CODECS', 'FRAME-RATE']) {
      if (a[key] === undefined) problems.push(`${p.uri}: no ${key}`);
    }
    if (!(a.RESOLUTION && a.RESOLUTION.width > 0 && a.RESOLUTION.height > 0)) {
      problems.push(`${p.uri}: bad RESOLUTION`);
    }
    if (!(a.BANDWIDTH <= last)) problems.push(`${p.uri}: bandwidths not descending`);
    last = a.BANDWIDTH;
    if (!/\/index\.m3u8$/.test(p.uri)) problems.push(`${p.uri}: unexpected URI`);
  }
  if (problems.length) {
    failures++;
    console.log(`FAIL ${path.basename(file)}: ${problems.join('; ')}`);
  } else {
    console.log(`ok   ${path.basename(file)}: ${lists.length} streams`);
  }
}
process.exit(failures ? 1 : 0);
