// sea-build's code cache maker, run at build time by the target's own node (natively, under
// Wine or under qemu) with the artifact's V8 flags: every CommonJS file of the mount is
// compiled exactly as the loader compiles it, and its V8 code cache kept.
//   node cache.js <compile list> <mount data> <output>
//   node cache.js <compile list> <mount data> <output> <loader> <assets JSON> <train args...>
// The list is [[key, offset, length], ...]; the output is [u32 length of the JSON index]
// [index: key -> [offset, length]][caches], in the order of the list.
//
// With a loader (`code-cache = "trained"`), the program first runs through it with the
// training arguments, outside a SEA (the assets read from the files the JSON names); when it
// exits, each module it compiled gives the cache of its script as the run left it, with the
// functions the run compiled (V8 adds them to a script's cache), the others a plain one.
'use strict';
const fs = require('node:fs');
const vm = require('node:vm');

const [list, mount, output, loader, assets, ...trainArgs] = process.argv.slice(2);

function writeCaches(compiled) {
  const data = fs.readFileSync(mount);
  const entries = {};
  const caches = [];
  let size = 0;
  for (const [key, offset, length] of JSON.parse(fs.readFileSync(list, 'utf8'))) {
    let script = compiled.get(key);
    if (!script) {
      try {
        script = new vm.Script(wrap(data.toString('utf8', offset, offset + length)), { filename: key, importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
      } catch {
        // Not CommonJS after all (ES module syntax in a file without a "type"): node loads it
        // as an ES module, without this cache.
        continue;
      }
    }
    const cache = script.createCachedData();
    entries[key] = [size, cache.length];
    caches.push(cache);
    size += cache.length;
  }
  const index = Buffer.from(JSON.stringify(entries));
  const head = Buffer.alloc(4);
  head.writeUInt32LE(index.length, 0);
  fs.writeFileSync(output, Buffer.concat([head, index, ...caches]));
}

if (loader === undefined) {
  writeCaches(new Map());
} else {
  const training = { files: JSON.parse(assets), compiled: new Map() };
  globalThis[Symbol.for('sea-build:training')] = training;
  process.argv = [process.execPath, process.execPath, ...trainArgs];
  process.on('exit', (code) => {
    if (code === 0) writeCaches(training.compiled);
  });
  require(loader);
}
