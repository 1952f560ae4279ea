// sea-build's mount loader: the blob's main when a package is shipped mounted (see mount/mod.rs).
//
// The package's files live in the blob as one asset, listed by another; they are served below a
// root that can never exist on disk, the executable's own path used as a directory, so every
// module's __dirname, __filename, import.meta.url and require.resolve point at its own place.
// `fs` reads, CommonJS `require`, ES module `import` (through module.registerHooks), workers
// and native addons (written once to a per-user cache) all see that tree. CommonJS modules are
// compiled from the V8 code cache the target's node made at build time.
//
// `seaBuildMount` is self-contained: a worker started on a mounted file runs its source again.
'use strict';

function seaBuildMount(entry) {
  const getBuiltin = process.getBuiltinModule;
  // Set only by the build's training run (cache.js), which runs this loader outside a SEA:
  // the assets come from the staged files, and the compiled scripts are handed back.
  const training = globalThis[Symbol.for('sea-build:training')];
  const asset = training
    ? (name) => {
        if (!Object.hasOwn(training.files, name)) throw new Error(`no asset ${name} in training`);
        return getBuiltin('node:fs').readFileSync(training.files[name]);
      }
    : (name) => Buffer.from(getBuiltin('node:sea').getRawAsset(name));
  const fs = getBuiltin('node:fs');
  const path = getBuiltin('node:path');
  const Module = getBuiltin('node:module');
  const vm = getBuiltin('node:vm');
  const url = getBuiltin('node:url');
  const util = getBuiltin('node:util');

  const root = process.execPath;
  const rootPrefix = root + path.sep;
  const windows = path.sep === '\\';

  // The mount: package-relative keys ('/'-separated) to [offset, length] in the data asset,
  // and for a file stored deflated (`compress`), the size it inflates to.
  const index = JSON.parse(asset('sea-build:mount.json').toString('utf8'));
  const data = asset('sea-build:mount.bin');
  const files = new Map();
  const dirs = new Map([['', new Set()]]);
  for (const [key, offset, length, size] of index.files) {
    files.set(key, [offset, length, size]);
    let child = key;
    for (let slash = key.lastIndexOf('/'); ; slash = key.lastIndexOf('/', slash - 1)) {
      const parent = slash < 0 ? '' : key.slice(0, slash);
      const name = child.slice(slash + 1);
      const known = dirs.get(parent);
      if (known) {
        known.add(name);
        break;
      }
      dirs.set(parent, new Set([name]));
      child = parent;
      if (slash < 0) break;
    }
  }

  // The code caches made at build time: [u32 length of the JSON index][index][caches].
  const caches = new Map();
  let cacheData;
  try {
    cacheData = asset('sea-build:cache.bin');
  } catch {
    cacheData = undefined;
  }
  if (cacheData) {
    const length = cacheData.readUInt32LE(0);
    const start = 4 + length;
    for (const [key, [offset, size]] of Object.entries(JSON.parse(cacheData.toString('utf8', 4, start)))) {
      caches.set(key, cacheData.subarray(start + offset, start + offset + size));
    }
  }
  let rejected = 0;

  // --- paths -------------------------------------------------------------------------------
  function toPath(p) {
    if (typeof p === 'string') return p;
    if (Buffer.isBuffer(p)) return p.toString();
    if (p instanceof URL || (p && typeof p.href === 'string' && p.protocol === 'file:')) return url.fileURLToPath(p);
    return undefined;
  }
  // The key of a path inside the mount, or undefined.
  function keyOf(p) {
    let text = toPath(p);
    if (text === undefined) return undefined;
    if (!text.startsWith(root) || text.includes('..') || text.includes('//') || text.includes('/./') || (windows && text.includes('/'))) {
      text = path.resolve(text);
    }
    // The root itself stays the real executable (stat, open and spawn it as a file).
    if (!text.startsWith(rootPrefix)) return undefined;
    let key = text.slice(rootPrefix.length);
    if (windows) key = key.replaceAll('\\', '/');
    return key.endsWith('/') ? key.slice(0, -1) : key;
  }
  const pathOf = (key) => (key === '' ? root : path.join(root, key));
  const isFile = (key) => files.has(key);
  const isDir = (key) => dirs.has(key);
  const join = (key, name) => (key === '' ? name : `${key}/${name}`);
  const parentKey = (key) => (key.lastIndexOf('/') < 0 ? '' : key.slice(0, key.lastIndexOf('/')));
  let zlib;
  function bytes(key) {
    const [offset, length, size] = files.get(key);
    const stored = data.subarray(offset, offset + length);
    if (size === undefined) return stored;
    zlib ||= getBuiltin('node:zlib');
    return zlib.inflateRawSync(stored, { maxOutputLength: Math.max(size, 1) });
  }
  const text = (key) => {
    const [offset, length, size] = files.get(key);
    return size === undefined ? data.toString('utf8', offset, offset + length) : bytes(key).toString('utf8');
  };
  const sizeOf = (key) => {
    const [, length, size] = files.get(key);
    return size === undefined ? length : size;
  };

  // --- errors as node's own ------------------------------------------------------------------
  let errnos;
  function fsError(code, syscall, p) {
    if (!errnos) {
      errnos = new Map();
      for (const [errno, [name, message]] of util.getSystemErrorMap()) errnos.set(name, [errno, message]);
    }
    const [errno, message] = errnos.get(code) || [-1, code];
    const error = new Error(`${code}: ${message}, ${syscall} '${p}'`);
    Object.assign(error, { errno, code, syscall, path: p });
    Error.captureStackTrace(error, fsError);
    return error;
  }
  function missing(code, message) {
    const error = new Error(message);
    error.code = code;
    return error;
  }

  // --- fs ------------------------------------------------------------------------------------
  // Mounted files carry the executable's modification time.
  let stamp;
  const realStatSync = fs.statSync;
  function stats(key, p, syscall) {
    const kind = isFile(key) ? 0o100444 : isDir(key) ? 0o40555 : undefined;
    if (kind === undefined) throw fsError('ENOENT', syscall, p);
    if (stamp === undefined) stamp = realStatSync(root).mtimeMs;
    const size = kind === 0o40555 ? 0 : sizeOf(key);
    const result = Object.create(fs.Stats.prototype);
    const date = new Date(stamp);
    const fields = { dev: 0, mode: kind, nlink: 1, uid: 0, gid: 0, rdev: 0, blksize: 4096, ino: 0, size, blocks: Math.ceil(size / 512), atimeMs: stamp, mtimeMs: stamp, ctimeMs: stamp, birthtimeMs: stamp, atime: date, mtime: date, ctime: date, birthtime: date };
    for (const [name, value] of Object.entries(fields)) Object.defineProperty(result, name, { value, writable: true, enumerable: true, configurable: true });
    return result;
  }
  function dirent(dirKey, name) {
    const key = join(dirKey, name);
    const file = isFile(key);
    const parentPath = pathOf(dirKey);
    const no = () => false;
    return Object.create(fs.Dirent.prototype, {
      name: { value: name, enumerable: true, writable: true },
      parentPath: { value: parentPath, enumerable: true, writable: true },
      path: { value: parentPath, enumerable: false, writable: true },
      isFile: { value: () => file },
      isDirectory: { value: () => !file },
      isSymbolicLink: { value: no },
      isBlockDevice: { value: no },
      isCharacterDevice: { value: no },
      isFIFO: { value: no },
      isSocket: { value: no },
    });
  }
  function encodingOf(options) {
    return typeof options === 'string' ? options : options && options.encoding;
  }
  function readFile(key, p, options) {
    if (!isFile(key)) throw fsError(isDir(key) ? 'EISDIR' : 'ENOENT', isDir(key) ? 'read' : 'open', p);
    const encoding = encodingOf(options);
    if (encoding && encoding !== 'buffer') return bytes(key).toString(encoding);
    const content = bytes(key);
    return files.get(key)[2] === undefined ? Buffer.from(content) : content;
  }
  function readdir(key, p, options) {
    const names = dirs.get(key);
    if (!names) throw fsError(isFile(key) ? 'ENOTDIR' : 'ENOENT', 'scandir', p);
    const recursive = options && typeof options === 'object' && options.recursive;
    // [directory key, name, the name as listed (relative to `key` when recursive)]
    const entries = [];
    const list = (dirKey, prefix) => {
      for (const name of [...dirs.get(dirKey)].sort()) {
        entries.push([dirKey, name, prefix + name]);
        if (recursive && isDir(join(dirKey, name))) list(join(dirKey, name), `${prefix}${name}${path.sep}`);
      }
    };
    list(key, '');
    if (options && typeof options === 'object' && options.withFileTypes) return entries.map(([dirKey, name]) => dirent(dirKey, name));
    const encoding = encodingOf(options);
    return entries.map(([, , shown]) => (encoding === 'buffer' ? Buffer.from(shown) : shown));
  }
  function access(key, p, mode) {
    if (!isFile(key) && !isDir(key)) throw fsError('ENOENT', 'access', p);
    if (mode & fs.constants.W_OK) throw fsError('EROFS', 'access', p);
  }
  function realpath(key, p) {
    if (!isFile(key) && !isDir(key)) throw fsError('ENOENT', 'realpath', p);
    return pathOf(key);
  }

  // Each patched call answers for mounted paths and leaves every other path to node.
  function patchSync(name, serve) {
    const original = fs[name];
    if (typeof original !== 'function') return;
    const patched = function (p, ...rest) {
      const key = keyOf(p);
      return key === undefined ? original.call(this, p, ...rest) : serve(key, toPath(p), ...rest);
    };
    Object.assign(patched, original);
    fs[name] = patched;
  }
  function patchCallback(name, serve) {
    const original = fs[name];
    if (typeof original !== 'function') return;
    const patched = function (p, ...rest) {
      const key = keyOf(p);
      if (key === undefined) return original.call(this, p, ...rest);
      const callback = rest.pop();
      if (typeof callback !== 'function') return original.call(this, p, ...rest, callback);
      let result;
      let error = null;
      try {
        result = serve(key, toPath(p), ...rest);
      } catch (thrown) {
        error = thrown;
      }
      process.nextTick(callback, error, result);
    };
    Object.assign(patched, original);
    fs[name] = patched;
  }
  function patchPromise(name, serve) {
    const original = fs.promises[name];
    fs.promises[name] = async function (p, ...rest) {
      const key = keyOf(p);
      return key === undefined ? original.call(this, p, ...rest) : serve(key, toPath(p), ...rest);
    };
  }
  const served = {
    readFile,
    readdir,
    stat: (key, p, options) => {
      if (options && options.throwIfNoEntry === false && !isFile(key) && !isDir(key)) return undefined;
      return stats(key, p, 'stat');
    },
    lstat: (key, p, options) => {
      if (options && options.throwIfNoEntry === false && !isFile(key) && !isDir(key)) return undefined;
      return stats(key, p, 'lstat');
    },
    access,
    realpath,
  };
  for (const [name, serve] of Object.entries(served)) {
    patchSync(`${name}Sync`, serve);
    patchCallback(name, serve);
    patchPromise(name, serve);
  }
  fs.realpathSync.native = fs.realpathSync;
  fs.realpath.native = fs.realpath;
  // ES modules that import names from `fs` see the patched functions too.
  Module.syncBuiltinESMExports();
  patchSync('existsSync', (key) => isFile(key) || isDir(key));
  {
    // `exists` calls back with one argument, not (error, result).
    const original = fs.exists;
    fs.exists = function (p, callback) {
      const key = keyOf(p);
      if (key === undefined || typeof callback !== 'function') return original.call(this, p, callback);
      process.nextTick(callback, isFile(key) || isDir(key));
    };
  }
  {
    const original = fs.createReadStream;
    fs.createReadStream = function (p, options) {
      const key = keyOf(p);
      if (key === undefined) return original.call(this, p, options);
      const { Readable } = getBuiltin('node:stream');
      const start = (options && options.start) || 0;
      const end = options && options.end !== undefined ? options.end + 1 : undefined;
      let content;
      try {
        content = readFile(key, toPath(p)).subarray(start, end);
      } catch (error) {
        const stream = new Readable({ read() {} });
        process.nextTick(() => stream.destroy(error));
        return stream;
      }
      const encoding = encodingOf(options);
      const stream = Readable.from([encoding ? content.toString(encoding) : content], { objectMode: false });
      stream.path = toPath(p);
      stream.bytesRead = content.length;
      process.nextTick(() => {
        stream.emit('open', -1);
        stream.emit('ready');
      });
      return stream;
    };
  }

  // --- package.json ---------------------------------------------------------------------------
  const manifests = new Map();
  function manifest(dirKey) {
    if (!manifests.has(dirKey)) {
      const key = join(dirKey, 'package.json');
      let value = null;
      if (isFile(key)) {
        try {
          value = JSON.parse(text(key));
        } catch {
          value = null;
        }
      }
      manifests.set(dirKey, value);
    }
    return manifests.get(dirKey);
  }
  // The directory of the nearest package.json at or above a directory key.
  function scopeOf(dirKey) {
    for (let dir = dirKey; ; dir = parentKey(dir)) {
      if (manifest(dir)) return dir;
      if (dir === '') return undefined;
    }
  }
  function formatOf(key) {
    if (key.endsWith('.mjs')) return 'module';
    if (key.endsWith('.cjs')) return 'commonjs';
    if (key.endsWith('.json')) return 'json';
    if (key.endsWith('.node')) return 'addon';
    if (key.endsWith('.wasm')) return 'wasm';
    const scope = scopeOf(parentKey(key));
    return scope !== undefined && manifest(scope).type === 'module' ? 'module' : 'commonjs';
  }

  // --- resolution ------------------------------------------------------------------------------
  const requireConditions = ['require', 'node', 'node-addons', 'default'];
  if (process.features && process.features.require_module) requireConditions.push('module-sync');

  function fileWithExtension(key) {
    if (isFile(key)) return key;
    for (const extension of Object.keys(Module._extensions)) if (isFile(key + extension)) return key + extension;
    return undefined;
  }
  function directoryEntry(key) {
    const json = isDir(key) && manifest(key);
    if (json && typeof json.main === 'string' && json.main) {
      const main = normalizeKey(join(key, json.main));
      const found = main !== undefined && (fileWithExtension(main) || (isDir(main) && indexOf(main)));
      if (found) return found;
    }
    return indexOf(key);
  }
  function indexOf(key) {
    for (const extension of Object.keys(Module._extensions)) if (isFile(join(key, 'index' + extension))) return join(key, 'index' + extension);
    return undefined;
  }
  function normalizeKey(key) {
    const parts = [];
    for (const part of key.split('/')) {
      if (part === '..') {
        if (!parts.length) return undefined;
        parts.pop();
      } else if (part && part !== '.') parts.push(part);
    }
    return parts.join('/');
  }
  function splitBare(specifier) {
    const segments = specifier.split('/');
    const nameLength = specifier.startsWith('@') ? 2 : 1;
    return [segments.slice(0, nameLength).join('/'), ['.', ...segments.slice(nameLength)].join('/')];
  }
  function conditionalTarget(target, conditions) {
    if (typeof target === 'string' || target === null) return target;
    if (Array.isArray(target)) {
      for (const candidate of target) {
        const found = conditionalTarget(candidate, conditions);
        if (found !== undefined && found !== null) return found;
      }
      return undefined;
    }
    if (typeof target === 'object') {
      for (const [condition, value] of Object.entries(target)) {
        if (condition === 'default' || conditions.includes(condition)) {
          const found = conditionalTarget(value, conditions);
          if (found !== undefined) return found;
        }
      }
    }
    return undefined;
  }
  // A package's `exports` or `imports` map applied to a subpath: the package-relative target.
  function mapped(map, subpath, conditions, exportsMap) {
    if (exportsMap && (typeof map === 'string' || Array.isArray(map) || (map && !Object.keys(map).some((k) => k.startsWith('.'))))) map = { '.': map };
    if (!map || typeof map !== 'object') return undefined;
    if (Object.prototype.hasOwnProperty.call(map, subpath) && !subpath.includes('*')) return conditionalTarget(map[subpath], conditions);
    let best;
    for (const key of Object.keys(map)) {
      const star = key.indexOf('*');
      if (star < 0) continue;
      const prefix = key.slice(0, star);
      const suffix = key.slice(star + 1);
      if (subpath.startsWith(prefix) && subpath.length >= key.length && subpath.endsWith(suffix) && (!best || prefix.length > best[1].length)) best = [key, prefix, suffix];
    }
    if (!best) return undefined;
    const [key, prefix, suffix] = best;
    const match = subpath.slice(prefix.length, subpath.length - suffix.length);
    const target = conditionalTarget(map[key], conditions);
    return typeof target === 'string' ? target.replaceAll('*', match) : target;
  }
  function notExported(specifier, dirKey) {
    const error = new Error(`Package subpath '${specifier}' is not defined by "exports" in ${pathOf(join(dirKey, 'package.json'))}`);
    error.code = 'ERR_PACKAGE_PATH_NOT_EXPORTED';
    return error;
  }
  // A file key for `specifier` from the directory key `fromKey`, or undefined (not mounted).
  // `esm`: ES module rules (no extension searching for relative paths).
  function resolveFrom(specifier, fromKey, conditions, esm) {
    if (specifier.startsWith('#')) {
      const scope = scopeOf(fromKey);
      if (scope === undefined || !manifest(scope).imports) return undefined;
      const target = mapped(manifest(scope).imports, specifier, conditions, false);
      if (typeof target !== 'string') return undefined;
      return target.startsWith('./') ? fileOrDir(normalizeKey(join(scope, target)), true) : resolveFrom(target, scope, conditions, esm);
    }
    const [name, subpath] = splitBare(specifier);
    // Self-reference through the package's own name.
    const scope = scopeOf(fromKey);
    if (scope !== undefined && manifest(scope).name === name && manifest(scope).exports !== undefined) return exported(scope, subpath, specifier, conditions);
    for (let dir = fromKey; ; dir = parentKey(dir)) {
      if (!dir.endsWith('node_modules') && dir.split('/').pop() !== 'node_modules') {
        const packageKey = join(join(dir, 'node_modules'), name);
        if (isDir(packageKey)) {
          const json = manifest(packageKey);
          if (json && json.exports !== undefined && json.exports !== null) return exported(packageKey, subpath, specifier, conditions);
          const key = subpath === '.' ? packageKey : normalizeKey(join(packageKey, subpath.slice(2)));
          const found = esm && subpath !== '.' ? (isFile(key) ? key : undefined) : fileOrDir(key, false);
          if (found) return found;
        }
      }
      if (dir === '') return undefined;
    }
  }
  function exported(packageKey, subpath, specifier, conditions) {
    const target = mapped(manifest(packageKey).exports, subpath, conditions, true);
    if (typeof target !== 'string' || !target.startsWith('./')) throw notExported(subpath, packageKey);
    const key = normalizeKey(join(packageKey, target.slice(2)));
    if (key !== undefined && isFile(key)) return key;
    throw missing('MODULE_NOT_FOUND', `Cannot find module '${pathOf(key || packageKey)}' (from the "exports" of ${specifier})`);
  }
  function fileOrDir(key, exact) {
    if (key === undefined) return undefined;
    if (exact) return isFile(key) ? key : undefined;
    return fileWithExtension(key) || (isDir(key) ? directoryEntry(key) : undefined);
  }
  const relative = (s) => s === '.' || s === '..' || s.startsWith('./') || s.startsWith('../') || (windows && (s.startsWith('.\\') || s.startsWith('..\\')));

  // CommonJS: require and require.resolve.
  const originalResolveFilename = Module._resolveFilename;
  Module._resolveFilename = function (request, parent, isMain, options) {
    if (typeof request === 'string' && !Module.isBuiltin(request)) {
      const bases = options && Array.isArray(options.paths) ? options.paths.map((p) => path.resolve(p)) : [parent && parent.filename ? path.dirname(parent.filename) : process.cwd()];
      for (const base of bases) {
        let found;
        if (relative(request) || path.isAbsolute(request)) {
          const key = keyOf(path.resolve(base, request));
          if (key !== undefined) found = request.endsWith('/') ? (isDir(key) ? directoryEntry(key) : undefined) : fileOrDir(key, false);
        } else {
          // The root is the executable itself for `fs`, but the package's top directory here.
          const fromKey = base === root ? '' : keyOf(base);
          if (fromKey !== undefined) found = resolveFrom(request, fromKey, requireConditions, false);
        }
        if (found !== undefined) return pathOf(found);
      }
    }
    return originalResolveFilename.call(this, request, parent, isMain, options);
  };

  // CommonJS modules: compiled from the build's code cache. Files without a "type" that turn
  // out to hold ES module syntax are loaded as ES modules, as node's detection does.
  const detected = new Set();
  function makeRequire(mod) {
    const require = function require(id) {
      return mod.require(id);
    };
    require.resolve = function resolve(request, options) {
      return Module._resolveFilename(request, mod, false, options);
    };
    require.resolve.paths = (request) => Module._resolveLookupPaths(request, mod);
    require.main = process.mainModule;
    require.extensions = Module._extensions;
    require.cache = Module._cache;
    return require;
  }
  const scriptOptions = (filename, cachedData) => ({ filename, cachedData, importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
  {
    // Node warns, once, at the first import() such code makes, that this option is
    // experimental: a warning about the loader, not about the program, so it is dropped.
    const emitWarning = process.emitWarning;
    process.emitWarning = function (warning, ...rest) {
      if (String(warning && warning.message !== undefined ? warning.message : warning).startsWith('vm.USE_MAIN_CONTEXT_DEFAULT_LOADER')) return;
      return emitWarning.call(this, warning, ...rest);
    };
  }
  const originalJs = Module._extensions['.js'];
  const compileCommonJs = (original) =>
    function (mod, filename) {
      const key = keyOf(filename);
      if (key === undefined || formatOf(key) !== 'commonjs' || !isFile(key)) return original.call(this, mod, filename);
      const cachedData = caches.get(key);
      let script;
      try {
        script = new vm.Script(wrap(text(key)), scriptOptions(filename, cachedData));
      } catch (error) {
        // Node would retry a file without a "type" whose syntax is ES module syntax as one.
        if (error instanceof SyntaxError && typeof Module.registerHooks === 'function' && scopeOf(parentKey(key)) !== undefined && manifest(scopeOf(parentKey(key))).type === undefined) {
          detected.add(key);
          return original.call(this, mod, filename);
        }
        throw error;
      }
      // A worker's scripts stay in its own isolate: only the main thread's are trained.
      if (training && training.compiled) training.compiled.set(key, script);
      if (cachedData && script.cachedDataRejected) {
        if (rejected++ === 0) process.stderr.write(`Code cache data rejected. (sea-build: the cache of ${key} was made for other V8 flags or another V8)\n`);
      }
      const dirname = path.dirname(filename);
      return script.runInThisContext({ displayErrors: true }).call(mod.exports, mod.exports, makeRequire(mod), mod, filename, dirname);
    };
  Module._extensions['.js'] = compileCommonJs(originalJs);
  if (Module._extensions['.cjs']) Module._extensions['.cjs'] = compileCommonJs(Module._extensions['.cjs']);

  // Native addons: written with their package to a per-user cache, verified, then loaded.
  const originalNode = Module._extensions['.node'];
  Module._extensions['.node'] = function (mod, filename) {
    const key = keyOf(filename);
    if (key === undefined) return originalNode.call(this, mod, filename);
    return process.dlopen(mod, path.toNamespacedPath(extractAddon(key)));
  };
  function cacheBase() {
    const os = getBuiltin('node:os');
    if (process.env.SEA_BUILD_NATIVE_CACHE) return process.env.SEA_BUILD_NATIVE_CACHE;
    if (process.platform === 'win32') return path.join(process.env.LOCALAPPDATA || path.join(os.homedir(), 'AppData', 'Local'), 'sea-build', 'native');
    if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Caches', 'sea-build', 'native');
    return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'sea-build', 'native');
  }
  function sha256(buffer) {
    return getBuiltin('node:crypto').createHash('sha256').update(buffer).digest('hex');
  }
  // The addon's package and the packages it depends on are written out at their mount paths
  // below <cache>/<their SHA-256>, so the addon finds its shared libraries where its RPATH
  // expects them. Written beside their final place and renamed: a start killed halfway
  // leaves only a temporary directory, and starts racing each other each rename a whole copy.
  function extractAddon(key) {
    const addon = (index.addons || []).find(([dirKey]) => key.startsWith(dirKey + '/'));
    if (!addon) throw missing('ERR_DLOPEN_FAILED', `${pathOf(key)}: this native addon was not prepared by sea-build for loading`);
    const [, treeHash, dirKeys] = addon;
    const dir = path.join(cacheBase(), treeHash);
    const file = path.join(dir, key);
    const want = sha256(bytes(key));
    const verified = () => {
      try {
        return sha256(fs.readFileSync(file)) === want;
      } catch {
        return false;
      }
    };
    if (verified()) {
      sweep(path.dirname(dir), treeHash);
      return file;
    }
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    const unique = () => `${process.pid}-${Math.random().toString(16).slice(2)}`;
    const temp = `${dir}.tmp-${unique()}`;
    const owned = (fileKey) => dirKeys.some((dirKey) => fileKey.startsWith(dirKey + '/') && !fileKey.slice(dirKey.length + 1).split('/').includes('node_modules'));
    for (const [fileKey] of index.files) {
      if (!owned(fileKey)) continue;
      const target = path.join(temp, fileKey);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, bytes(fileKey), { mode: 0o755 });
    }
    try {
      fs.renameSync(temp, dir);
    } catch (error) {
      if (verified()) {
        fs.rmSync(temp, { recursive: true, force: true });
        return file;
      }
      // What is there is not this addon's tree (damaged by hand): move it aside first.
      const stale = `${dir}.stale-${unique()}`;
      try {
        fs.renameSync(dir, stale);
      } catch {
        fs.rmSync(temp, { recursive: true, force: true });
        throw error;
      }
      fs.renameSync(temp, dir);
      fs.rmSync(stale, { recursive: true, force: true });
    }
    if (!verified()) throw missing('ERR_DLOPEN_FAILED', `${file} does not hold the native addon ${key} of this program (its SHA-256 differs): remove ${dir} and start again`);
    sweep(path.dirname(dir), treeHash);
    return file;
  }
  // Removes what starts killed while writing this tree left: temporary directories of
  // processes that are gone.
  function sweep(base, treeHash) {
    for (const name of fs.readdirSync(base)) {
      const match = name.startsWith(treeHash) && /\.(?:tmp|stale)-(\d+)-/.exec(name);
      if (!match) continue;
      let alive = Number(match[1]) === process.pid;
      try {
        process.kill(Number(match[1]), 0);
        alive = true;
      } catch (error) {
        alive = alive || error.code === 'EPERM';
      }
      if (!alive) fs.rmSync(path.join(base, name), { recursive: true, force: true });
    }
  }

  // ES modules, and CommonJS files they import, through module.registerHooks (node 22.15+).
  if (typeof Module.registerHooks === 'function') {
    Module.registerHooks({
      resolve(specifier, context, nextResolve) {
        const conditions = context.conditions || [];
        if (conditions.includes('require') || Module.isBuiltin(specifier) || specifier.startsWith('data:')) return nextResolve(specifier, context);
        const parentKey_ = context.parentURL && context.parentURL.startsWith('file:') ? keyOf(new URL(context.parentURL)) : undefined;
        let found;
        if (specifier.startsWith('file:') || path.isAbsolute(specifier)) {
          const key = keyOf(specifier.startsWith('file:') ? new URL(specifier) : specifier);
          if (key !== undefined) found = isFile(key) ? key : null;
        } else if (parentKey_ !== undefined) {
          if (relative(specifier) || specifier.startsWith('/')) {
            const key = normalizeKey(join(parentKey(parentKey_), specifier));
            found = key !== undefined && isFile(key) ? key : null;
          } else {
            found = resolveFrom(specifier, parentKey(parentKey_), conditions, true);
          }
        }
        if (found === null) throw missing('ERR_MODULE_NOT_FOUND', `Cannot find module '${specifier.startsWith('file:') ? url.fileURLToPath(specifier) : path.resolve(path.dirname(pathOf(parentKey_ || '')), specifier)}' imported from ${context.parentURL}`);
        if (found === undefined) return nextResolve(specifier, context);
        const format = detected.has(found) ? 'module' : formatOf(found);
        return { url: url.pathToFileURL(pathOf(found)).href, format: format === 'addon' ? undefined : format, shortCircuit: true };
      },
      load(address, context, nextLoad) {
        const key = address.startsWith('file:') ? keyOf(new URL(address)) : undefined;
        if (key === undefined || !isFile(key)) return nextLoad(address, context);
        const format = detected.has(key) ? 'module' : context.format || formatOf(key);
        // CommonJS imported from an ES module: no source, so node loads it through the
        // CommonJS loader (and its cache) as it loads a file from disk. Asked for its source
        // by that loader itself (to find a module's named exports), it gets the text.
        if (format === 'commonjs' && !(context.conditions || []).includes('require')) return { format, source: null, shortCircuit: true };
        return { format, source: format === 'wasm' ? bytes(key) : text(key), shortCircuit: true };
      },
    });
  }

  // Workers started on a mounted file run this loader first.
  {
    const threads = getBuiltin('node:worker_threads');
    const Original = threads.Worker;
    class Worker extends Original {
      constructor(filename, options) {
        const key = options && options.eval ? undefined : keyOf(filename);
        if (key === undefined) super(filename, options);
        else {
          const setup = training ? `globalThis[Symbol.for('sea-build:training')] = ${JSON.stringify({ files: training.files })};\n` : '';
          super(`${setup}${wrap}\n(${seaBuildMount})(${JSON.stringify(key)});`, { ...options, eval: true });
        }
      }
    }
    threads.Worker = Worker;
  }

  // Start the program as `node <main>` does: CommonJS as the main module, ES modules imported.
  const mainKey = entry === undefined ? index.main : entry;
  const mainPath = pathOf(mainKey);
  if (formatOf(mainKey) === 'module' || detected.has(mainKey)) {
    const importer = new vm.Script('(specifier) => import(specifier)', scriptOptions(mainPath)).runInThisContext();
    importer(url.pathToFileURL(mainPath).href).catch((error) => process.nextTick(() => {
      throw error;
    }));
  } else {
    Module._load(mainPath, null, true);
  }
}

seaBuildMount();
