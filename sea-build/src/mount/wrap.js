// The CommonJS wrapper, the same at build time (cache.js) and at run time (loader.js): a code
// cache is accepted only for the source it was made from.
function wrap(source) {
  if (source.charCodeAt(0) === 0xfeff) source = source.slice(1);
  if (source.startsWith('#!')) source = '//' + source.slice(2);
  return `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;
}
