// The program sea-build ships: it reads an embedded asset and prints something checkable.
const { getAsset, isSea } = require('node:sea');

const greeting = getAsset('greeting.txt', 'utf8').trim();
const args = process.argv.slice(2);
if (args.includes('--check')) {
  // What `cargo xtask verify-cache` runs: quick, and exits 0.
  console.log(`ok ${isSea()}`);
} else {
  console.log(`${greeting}, running on node ${process.version} (${process.platform}-${process.arch}).`);
  console.log(`2 + 3 = ${[2, 3].reduce((a, b) => a + b, 0)}`);
}
