// Intl results for a set of locales, one JSON object: `icu` trimming tests run it through a
// full-ICU node and through a trimmed SEA and compare. Everything is explicit (time zones,
// dates), so the results do not depend on the machine.
const locales = process.argv.slice(2).length ? process.argv.slice(2) : ['en', 'en-US', 'en-GB', 'en-IN', 'en-150', 'de', 'fr-CA', 'ja'];
const when = new Date(Date.UTC(2024, 1, 29, 17, 5, 9, 123));
const attempt = (make) => {
  try {
    return make();
  } catch (error) {
    return `${error.name}: ${error.message}`;
  }
};
const results = {};
for (const locale of locales) {
  const r = {};
  for (const timeZone of ['UTC', 'America/New_York', 'Asia/Kolkata', 'Europe/Berlin', 'Australia/Lord_Howe']) {
    r[`date ${timeZone}`] = attempt(() => new Intl.DateTimeFormat(locale, { dateStyle: 'full', timeStyle: 'long', timeZone }).format(when));
    r[`zone name ${timeZone}`] = attempt(() => new Intl.DateTimeFormat(locale, { timeZone, timeZoneName: 'long' }).formatToParts(when).map((part) => part.value).join(''));
  }
  r['date parts'] = attempt(() => new Intl.DateTimeFormat(locale, { era: 'short', year: 'numeric', month: 'long', weekday: 'long', day: 'numeric', hour: 'numeric', minute: '2-digit', dayPeriod: 'short', timeZone: 'Asia/Tokyo' }).formatToParts(when));
  r['date range'] = attempt(() => new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone: 'UTC' }).formatRange(when, new Date(when.getTime() + 40 * 86400e3)));
  r['date resolved'] = attempt(() => new Intl.DateTimeFormat(locale, { timeZone: 'UTC' }).resolvedOptions());
  r['calendar'] = attempt(() => new Intl.DateTimeFormat(`${locale}-u-ca-japanese`, { dateStyle: 'long', timeZone: 'UTC' }).format(when));
  r['number'] = attempt(() => new Intl.NumberFormat(locale).format(1234567.891));
  r['currency'] = attempt(() => ['EUR', 'JPY', 'USD', 'INR', 'CHF'].map((currency) => new Intl.NumberFormat(locale, { style: 'currency', currency, currencyDisplay: 'name' }).format(-1234.5) + ' | ' + new Intl.NumberFormat(locale, { style: 'currency', currency }).format(1234.5)));
  r['units'] = attempt(() => ['kilometer-per-hour', 'liter', 'fahrenheit', 'megabyte', 'day'].map((unit) => new Intl.NumberFormat(locale, { style: 'unit', unit, unitDisplay: 'long' }).format(2.5)));
  r['compact'] = attempt(() => [1234, 1234567, 0.25].map((n) => new Intl.NumberFormat(locale, { notation: 'compact', compactDisplay: 'long' }).format(n) + ' ' + new Intl.NumberFormat(locale, { style: 'percent', signDisplay: 'always' }).format(n)));
  r['number resolved'] = attempt(() => new Intl.NumberFormat(locale).resolvedOptions());
  r['collator'] = attempt(() => ['peach', 'Péché', 'péché', 'pêche', 'apple', 'Zebra', 'zebra', 'äpfel', 'ch', 'cz', '10', '9'].sort(new Intl.Collator(locale).compare));
  r['collator base'] = attempt(() => [new Intl.Collator(locale, { sensitivity: 'base' }).compare('a', 'Á'), new Intl.Collator(locale, { numeric: true }).compare('9', '10')]);
  r['collator resolved'] = attempt(() => new Intl.Collator(locale).resolvedOptions());
  for (const granularity of ['grapheme', 'word', 'sentence']) {
    r[`segments ${granularity}`] = attempt(() =>
      [...new Intl.Segmenter(locale, { granularity }).segment("Hello, world! It's 3.14 o'clock, Mr. Smith. 👩‍👩‍👧 naïve 東京タワー ไปไหน")].map((s) => `${s.segment}${s.isWordLike ? '*' : ''}`)
    );
  }
  r['plural'] = attempt(() => [0, 1, 2, 3, 11, 1.5].map((n) => new Intl.PluralRules(locale).select(n) + '/' + new Intl.PluralRules(locale, { type: 'ordinal' }).select(n)));
  r['relative'] = attempt(() => [[-1, 'day'], [2, 'week'], [-3, 'month'], [0, 'year']].map(([n, unit]) => new Intl.RelativeTimeFormat(locale, { numeric: 'auto' }).format(n, unit) + ' | ' + new Intl.RelativeTimeFormat(locale, { style: 'narrow' }).format(n, unit)));
  r['display names'] = attempt(() => [
    ...['de', 'en-GB', 'zh-Hant', 'fr-CA'].map((code) => new Intl.DisplayNames(locale, { type: 'language' }).of(code)),
    ...['US', 'JP', '419'].map((code) => new Intl.DisplayNames(locale, { type: 'region' }).of(code)),
    ...['EUR', 'JPY'].map((code) => new Intl.DisplayNames(locale, { type: 'currency' }).of(code)),
    new Intl.DisplayNames(locale, { type: 'script' }).of('Cyrl'),
    new Intl.DisplayNames(locale, { type: 'calendar' }).of('gregory'),
    new Intl.DisplayNames(locale, { type: 'dateTimeField' }).of('weekday'),
  ]);
  r['list'] = attempt(() => new Intl.ListFormat(locale, { type: 'disjunction' }).format(['red', 'green', 'blue']) + ' | ' + new Intl.ListFormat(locale).format(['red', 'green', 'blue']));
  r['string'] = attempt(() => [when.toLocaleString(locale, { timeZone: 'UTC' }), (1234.5).toLocaleString(locale), 'İSTANBUL'.toLocaleLowerCase(locale), 'a'.localeCompare('B', locale)]);
  r['locale'] = attempt(() => { const l = new Intl.Locale(locale); return [l.maximize().toString(), l.minimize().toString(), l.getWeekInfo ? l.getWeekInfo() : l.weekInfo]; });
  results[locale] = r;
}
const all = ['en', 'en-GB', 'en-US-POSIX', 'de', 'de-AT', 'fr', 'ja', 'zh-Hant-TW'];
results.supported = Object.fromEntries(['Collator', 'DateTimeFormat', 'DisplayNames', 'ListFormat', 'NumberFormat', 'PluralRules', 'RelativeTimeFormat', 'Segmenter'].map((name) => [name, Intl[name].supportedLocalesOf(all)]));
results.normalized = ['\u0041\u030a', '\ufb01'].map((s) => [s.normalize('NFC'), s.normalize('NFKD')].map((t) => [...t].map((c) => c.codePointAt(0).toString(16))));
results.decoder = ['shift_jis', 'windows-1252', 'gb18030', 'iso-8859-2'].map((label) => attempt(() => new TextDecoder(label).decode(new Uint8Array([0x82, 0xa0, 0xe9, 0x41]))));
results.regexp = /\p{Script=Greek}+/u.exec('abc αβγ def')[0];
results.icu = process.versions.icu;
console.log(JSON.stringify(results, null, 1));
