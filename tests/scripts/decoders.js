// TextDecoder and buffer.transcode results, one JSON object: `icu` trimming tests run it through
// a full-ICU node and through a trimmed SEA and compare. The labels are node's own: the label map
// of lib/internal/encoding.js, read from the running node's builtin sources, so every label this
// node's TextDecoder accepts is decoded.
'use strict';
const { createHash } = require('crypto');
const { transcode } = require('buffer');

const attempt = (make) => {
  try {
    return make();
  } catch (error) {
    return `${error.name}: ${error.code || error.message}`;
  }
};

// process.binding('natives') serves node's builtin sources (deprecated, still there in 22 to 26).
function nodeLabels() {
  const source = process.binding('natives')['internal/encoding'];
  const map = /const encodings = new SafeMap\(\[([\s\S]*?)\]\);/.exec(source);
  if (!map) throw new Error('no label map in internal/encoding');
  return [...map[1].matchAll(/\['([^']+)', '([^']+)'\]/g)].map((pair) => pair[1]);
}

const hex = (text) => Uint8Array.from(text.match(/../g) || [], (byte) => parseInt(byte, 16));
// Valid sequences of the multi-byte encodings, then broken ones.
const samples = [
  '82a0889f8341', // Shift_JIS: hiragana, kanji, katakana
  'a4a2b0a18eb18fb0a1', // EUC-JP: hiragana, kanji, half-width katakana, JIS X 0212
  'c4e3bac3a3a1', // GBK
  '8130813095328236a2e3', // GB18030 four-byte sequences, including a supplementary one
  'a440a4a1c6a1f9f9', // Big5
  '87408862886488a3', // Big5-HKSCS, combining pairs
  'b0a1c7d18141', // EUC-KR and its windows-949 extension
  '1b2442302124221b2842411b284a5c1b2849311b2842', // ISO-2022-JP: JIS X 0208, Roman, katakana
  '1b2428443021', // ISO-2022-JP: JIS X 0212 (not in its version 0)
  '3dd800de41003d00', // UTF-16LE with a surrogate pair
  'd83dde000041', // UTF-16BE with a surrogate pair
  'efbbbf41', 'fffe4100', 'feff0041', // byte order marks
  'e282acf09f9880', // UTF-8
  '82', 'ffff', '80', 'a4', '813081', '1b24', '1b2442', '00d8', 'd800', 'c3', 'f0', 'e282', // cut short or invalid
];
const all256 = Uint8Array.from({ length: 256 }, (_, byte) => byte);
const pairs = new Uint8Array(2 * 256 * 256);
for (let pair = 0; pair < 65536; pair++) {
  pairs[2 * pair] = pair >> 8;
  pairs[2 * pair + 1] = pair & 0xff;
}
const digest = (text) => `${text.length} ${createHash('sha256').update(text, 'utf16le').digest('hex')}`;

const labels = nodeLabels();
const decoders = {};
for (const label of labels) {
  const r = {};
  r.encoding = attempt(() => new TextDecoder(label).encoding);
  r.fatal = attempt(() => new TextDecoder(label, { fatal: true }).fatal);
  r.singles = attempt(() => [...all256].map((byte) => new TextDecoder(label).decode(Uint8Array.of(byte))));
  r.all256 = attempt(() => new TextDecoder(label).decode(all256));
  r.pairs = attempt(() => digest(new TextDecoder(label).decode(pairs)));
  r.samples = attempt(() => samples.map((sample) => new TextDecoder(label).decode(hex(sample))));
  r['samples fatal'] = samples.map((sample) => attempt(() => new TextDecoder(label, { fatal: true }).decode(hex(sample))));
  r['samples ignoreBOM'] = attempt(() => samples.map((sample) => new TextDecoder(label, { ignoreBOM: true }).decode(hex(sample))));
  r.stream = attempt(() => {
    const decoder = new TextDecoder(label);
    const bytes = hex(samples.join(''));
    let text = '';
    for (const byte of bytes) text += decoder.decode(Uint8Array.of(byte), { stream: true });
    return text + decoder.decode();
  });
  decoders[label] = r;
}

const encodings = ['ascii', 'latin1', 'binary', 'ucs2', 'utf16le', 'utf8'];
const sources = [Buffer.from(all256), Buffer.from('héllo € 😀 日本', 'utf8'), Buffer.from('héllo € 😀 日本', 'utf16le'), Buffer.from([0x41, 0x00, 0x42])];
const transcoded = {};
for (const from of encodings) {
  for (const to of encodings) {
    transcoded[`${from} ${to}`] = sources.map((source) => attempt(() => transcode(source, from, to).toString('hex')));
  }
}

// Converters opened by name through node's internal binding (process.binding('icu'),
// deprecated): the names TextDecoder passes, and some it never does.
const binding = {};
for (const name of ['gb18030', 'shift_jis', 'iso-2022-jp', 'windows-1252', 'utf-16le', 'ibm-037', 'ISO_2022,locale=ko,version=0', 'hz', 'scsu', 'utf-7']) {
  binding[name] = attempt(() => process.binding('icu').hasConverter(name));
}

console.log(JSON.stringify({ labels: labels.length, decoders, transcoded, binding, icu: process.versions.icu }));
