//! The real-program corpus: popular command-line programs from the npm registry, pinned exactly,
//! each with a real input and the output it must give.
//!
//! How they were chosen: by monthly downloads within each kind of command-line program that npm
//! users run (formatters, minifiers, CSS preprocessors and tools, linters, a bundler, template
//! engines, markdown renderers, data converters, text and id tools, a static file server,
//! compilers), and then for what a single executable has to cope with: prebuilt native addons
//! (rollup, swc, and sharp, whose addon loads a shared library from a sibling package), bins that
//! are ES modules, top-level await, worker threads started from a worker file (eslint
//! `--concurrency`), and data files read beside the code (fonts, cows, `lib.*.d.ts`). Left out:
//! launchers of native executables (esbuild, @biomejs/biome, lightningcss-cli, typescript 7),
//! and programs that need the network (serve looks for updates on every start), a browser, a
//! terminal or an install script.
//!
//! How each is installed: in a fresh directory, `package.json` is
//! `{"name":"corpus-<name>","version":"1.4.2","private":true,"dependencies":{"<package>":"<version>"}}`,
//! beside the committed `tests/corpus/<name>/package-lock.json`, then
//! `npm ci --no-audit --no-fund --ignore-scripts --loglevel=error` (npm 11, Linux x64 with glibc:
//! the lockfile lists the optional native packages of every platform, npm installs those of this
//! one). The lockfile pins every package of the closure by version and integrity hash, so a later
//! install never brings newer ones. It was made by `npm install --package-lock-only
//! --ignore-scripts` on that `package.json`, with every `resolved` and `funding` field removed: it
//! names no registry and no URL, and npm fetches from the registry it is configured with. A new
//! program gets its lockfile the same way.
//!
//! How each is run: `node node_modules/<package>/<bin> <args...>` in that directory, after
//! writing [`Program::files`] there, with [`Program::stdin`] (or nothing) on standard input,
//! standard output and error read through pipes, and an environment of only `PATH` and `HOME`
//! (no `FORCE_COLOR`, `NO_COLOR` or `NODE_OPTIONS`). Every real run gave the same exit status
//! and the same standard output on node 22.23.3, 24.21.0 and 26.10.0, and every check run
//! ([`Program::verify_args`]) exited 0 on all three. A run takes well under a second, but for
//! tsc (about 2.5 s) and standard (about 1 s).
//!
//! The first [`CI_SLICE`] entries are a representative slice for CI: small closures that
//! install quickly, of varied kinds, with ES-module bins, a program that reads its own files
//! and one with a native addon.

/// How many entries at the head of [`PROGRAMS`] make the CI slice.
pub const CI_SLICE: usize = 8;

/// One program of the corpus.
pub struct Program {
    /// Short name for reports (also the `<name>` of `corpus-<name>`).
    pub name: &'static str,
    /// What kind of program (formatter, linter, ...).
    pub kind: &'static str,
    /// The npm package and its exact version.
    pub package: (&'static str, &'static str),
    /// Its bin script, relative to the package's own directory (e.g. "bin/prettier.cjs").
    pub bin: &'static str,
    /// Files written into the work directory before the run: (relative path, contents).
    pub files: &'static [(&'static str, &'static str)],
    /// Arguments of the real run (run in the work directory).
    pub args: &'static [&'static str],
    /// Standard input of the real run, if any.
    pub stdin: Option<&'static str>,
    /// What the real run must print on stdout.
    pub expect: Expect,
    /// The exit status of the real run: 0 but for linters and a type checker, whose report of
    /// the problems in the input is the real check.
    pub status: i32,
    /// Substrings the real run's standard error must contain (for programs that report there).
    pub stderr: &'static [&'static str],
    /// Arguments for a quick check run that exits 0 (such as --version).
    pub verify_args: &'static [&'static str],
    /// What the program does that matters to a single executable.
    pub traits: &'static [Trait],
    /// The installed `node_modules` when the corpus was made.
    pub closure: Closure,
}

/// What a run must print on stdout.
pub enum Expect {
    /// The whole output, byte for byte.
    Exactly(&'static str),
    /// Substrings of it, for output that is long or names absolute paths of the work directory.
    Contains(&'static [&'static str]),
}

/// What a program does that matters to a single executable. Marked by reading the code of the
/// installed closure and by tracing the real and check runs on node 24 (reads of files under
/// `node_modules` by the program rather than by node's module loader, failed module
/// resolutions, `process.dlopen`, `new Worker`): a trait is listed when the runs here do it,
/// except [`Trait::NativeAddon`], which is about the closure.
pub enum Trait {
    /// The installed closure holds a prebuilt native addon (`.node`, shipped inside an npm
    /// tarball, no install script needed); the entry's comment says whether the run loads it.
    NativeAddon,
    /// The addon needs a shared library (`DT_NEEDED`) shipped in the closure, found through the
    /// addon's `$ORIGIN`-relative RPATH.
    AddonWithSharedLibraries,
    /// The bin is an ES module (a `.mjs` file, or a `.js` or extensionless file in a
    /// `"type": "module"` package).
    EsmOnly,
    /// It starts `worker_threads` workers from a worker file of its own.
    Worker,
    /// It reads files of its own package or closure with `fs` at run time (package.json, fonts,
    /// templates, type libraries, sources it evaluates).
    ReadsFilesBesideItself,
    /// It loads modules through `require` or `import()` of a computed name or path (plugins,
    /// config files, rules, its own lib directory).
    ComputedRequire,
    /// It tries to load a module that is not installed and goes on without it.
    OptionalDependencyMissing,
    /// Its entry module (or a module it imports at start) awaits at top level.
    TopLevelAwait,
}

/// The size of an installed closure: files under `node_modules` (`find node_modules -type f`)
/// and their bytes (`du -sb node_modules`).
pub struct Closure {
    /// How many files.
    pub files: u32,
    /// How many bytes, as `du -sb` counts them.
    pub bytes: u64,
}

/// The corpus, the CI slice first.
pub const PROGRAMS: &[Program] = &[
    // Minifies a script. Reads its own lib/*.js with fs and evaluates them (tools/node.js) rather than
    // requiring them.
    Program {
        name: "uglify-js",
        kind: "minifier",
        package: ("uglify-js", "3.19.3"),
        bin: "bin/uglifyjs",
        files: &[(
            "src/app.js",
            r#"// Greets people by name.
function greet(name, punctuation) {
  var greeting = "Hello, " + name;
  if (punctuation) {
    greeting = greeting + punctuation;
  }
  return greeting;
}
var people = ["Ada", "Grace"];
for (var i = 0; i < people.length; i++) {
  console.log(greet(people[i], "!"));
}
"#,
        )],
        args: &["src/app.js", "--compress", "--mangle"],
        stdin: None,
        expect: Expect::Exactly(
            r#"function greet(e,o){e="Hello, "+e;return o&&(e+=o),e}for(var people=["Ada","Grace"],i=0;i<people.length;i++)console.log(greet(people[i],"!"));
"#,
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::ReadsFilesBesideItself],
        closure: Closure { files: 21, bytes: 1_329_553 },
    },
    // Markdown to HTML; the bin is an ES module.
    Program {
        name: "marked",
        kind: "markdown",
        package: ("marked", "18.3.0"),
        bin: "bin/marked.js",
        files: &[(
            "doc.md",
            r"# Release notes

Version **2.0** brings *three* changes:

1. Faster `build` step
2. A [new guide](https://example.com/guide)
3. Fewer dependencies

> Upgrade when you can.

```js
const answer = 42;
```
",
        )],
        args: &["--input", "doc.md"],
        stdin: None,
        expect: Expect::Exactly(
            r#"<h1>Release notes</h1>
<p>Version <strong>2.0</strong> brings <em>three</em> changes:</p>
<ol>
<li>Faster <code>build</code> step</li>
<li>A <a href="https://example.com/guide">new guide</a></li>
<li>Fewer dependencies</li>
</ol>
<blockquote>
<p>Upgrade when you can.</p>
</blockquote>
<pre><code class="language-js">const answer = 42;
</code></pre>

"#,
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::EsmOnly],
        closure: Closure { files: 13, bytes: 645_036 },
    },
    // YAML to JSON (a merge key stays a plain key in js-yaml 5); bin/js-yaml.mjs reads ../package.json
    // through import.meta.url at start.
    Program {
        name: "js-yaml",
        kind: "data converter",
        package: ("js-yaml", "5.5.0"),
        bin: "bin/js-yaml.mjs",
        files: &[(
            "config.yaml",
            r"# Service configuration
service:
  name: billing
  replicas: 3
  ports: [8080, 8443]
  enabled: true
defaults: &defaults
  timeout: 30
  retries: 2
production:
  <<: *defaults
  timeout: 60
notes: |
  line one
  line two
",
        )],
        args: &["config.yaml"],
        stdin: None,
        expect: Expect::Exactly(
            r#"{
  "service": {
    "name": "billing",
    "replicas": 3,
    "ports": [
      8080,
      8443
    ],
    "enabled": true
  },
  "defaults": {
    "timeout": 30,
    "retries": 2
  },
  "production": {
    "<<": {
      "timeout": 30,
      "retries": 2
    },
    "timeout": 60
  },
  "notes": "line one\nline two\n"
}
"#,
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::EsmOnly, Trait::ReadsFilesBesideItself],
        closure: Closure { files: 23, bytes: 1_838_285 },
    },
    // Filters versions through a range: CommonJS spread over many small files.
    Program {
        name: "semver",
        kind: "version tool",
        package: ("semver", "7.8.6"),
        bin: "bin/semver.js",
        files: &[],
        args: &["--range", ">=1.2.0 <2.0.0", "1.1.9", "1.10.3", "1.2.0", "2.0.0", "1.3.0-beta.1", "1.9.9"],
        stdin: None,
        expect: Expect::Exactly(
            r"1.2.0
1.9.9
1.10.3
",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--help"],
        traits: &[],
        closure: Closure { files: 55, bytes: 151_827 },
    },
    // Renders a template; the view file is loaded with require(path.join(process.cwd(), view)).
    Program {
        name: "mustache",
        kind: "template engine",
        package: ("mustache", "4.2.0"),
        bin: "bin/mustache",
        files: &[
            (
                "view.json",
                r#"{"title": "Inventory", "items": [{"name": "apple", "count": 3}, {"name": "pear", "count": 0}], "empty": false, "owner": "<Ada & Co>"}
"#,
            ),
            (
                "page.mustache",
                r"<h1>{{title}}</h1>
<p>Owner: {{owner}} / {{{owner}}}</p>
<ul>
{{#items}}
  <li>{{name}}: {{count}}</li>
{{/items}}
</ul>
{{^empty}}<p>Not empty.</p>{{/empty}}
",
            ),
        ],
        args: &["view.json", "page.mustache"],
        stdin: None,
        expect: Expect::Exactly(
            r"<h1>Inventory</h1>
<p>Owner: &lt;Ada &amp; Co&gt; / <Ada & Co></p>
<ul>
  <li>apple: 3</li>
  <li>pear: 0</li>
</ul>
<p>Not empty.</p>
",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::ComputedRequire],
        closure: Closure { files: 19, bytes: 155_049 },
    },
    // Parses a file and prints the ESTree AST; one package, no dependencies.
    Program {
        name: "acorn",
        kind: "parser",
        package: ("acorn", "8.19.0"),
        bin: "bin/acorn",
        files: &[(
            "expr.js",
            r"const sum = (a, b) => a + b;
",
        )],
        args: &["--ecma2022", "--compact", "expr.js"],
        stdin: None,
        expect: Expect::Exactly(
            r#"{"type":"Program","start":0,"end":29,"body":[{"type":"VariableDeclaration","start":0,"end":28,"declarations":[{"type":"VariableDeclarator","start":6,"end":27,"id":{"type":"Identifier","start":6,"end":9,"name":"sum"},"init":{"type":"ArrowFunctionExpression","start":12,"end":27,"id":null,"expression":true,"generator":false,"async":false,"params":[{"type":"Identifier","start":13,"end":14,"name":"a"},{"type":"Identifier","start":16,"end":17,"name":"b"}],"body":{"type":"BinaryExpression","start":22,"end":27,"left":{"type":"Identifier","start":22,"end":23,"name":"a"},"operator":"+","right":{"type":"Identifier","start":26,"end":27,"name":"b"}}}}],"kind":"const"}],"sourceType":"script"}
"#,
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--help"],
        traits: &[],
        closure: Closure { files: 11, bytes: 589_407 },
    },
    // Compiles CoffeeScript to JavaScript; bin/coffee finds its lib directory by probing paths
    // (existsSync) and requires it by a computed path.
    Program {
        name: "coffeescript",
        kind: "compiler",
        package: ("coffeescript", "2.7.1"),
        bin: "bin/coffee",
        files: &[(
            "shapes.coffee",
            r##"class Shape
  constructor: (@name) ->
  area: -> 0
  describe: -> "#{@name} with area #{@area()}"

class Square extends Shape
  constructor: (@side) ->
    super 'square'
  area: -> @side ** 2

squares = (new Square n for n in [1..3])
console.log s.describe() for s in squares when s.area() > 1
"##,
        )],
        args: &["--print", "--bare", "shapes.coffee"],
        stdin: None,
        expect: Expect::Exactly(
            r"var Shape, Square, i, len, n, s, squares;

Shape = class Shape {
  constructor(name) {
    this.name = name;
  }

  area() {
    return 0;
  }

  describe() {
    return `${this.name} with area ${this.area()}`;
  }

};

Square = class Square extends Shape {
  constructor(side) {
    super('square');
    this.side = side;
  }

  area() {
    return this.side ** 2;
  }

};

squares = (function() {
  var i, results;
  results = [];
  for (n = i = 1; i <= 3; n = ++i) {
    results.push(new Square(n));
  }
  return results;
})();

for (i = 0, len = squares.length; i < len; i++) {
  s = squares[i];
  if (s.area() > 1) {
    console.log(s.describe());
  }
}
",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::ComputedRequire],
        closure: Closure { files: 26, bytes: 1_922_929 },
    },
    // Bundles three ES modules into CommonJS on stdout (tree-shaking one export). The parser is a
    // single prebuilt addon, @rollup/rollup-linux-x64-gnu/rollup.linux-x64-gnu.node, loaded through a
    // computed require in dist/native.js; the progress line goes to stderr.
    Program {
        name: "rollup",
        kind: "bundler",
        package: ("rollup", "4.69.3"),
        bin: "dist/bin/rollup",
        files: &[
            (
                "src/main.js",
                r"import { double, unusedHelper } from './math.js';
import greeting from './greeting.js';
console.log(greeting, double(21));
",
            ),
            (
                "src/math.js",
                r"export const double = (n) => n * 2;
export function unusedHelper() { return 'tree-shaken'; }
",
            ),
            (
                "src/greeting.js",
                r"export default 'hello from the bundle';
",
            ),
        ],
        args: &["src/main.js", "--format", "cjs"],
        stdin: None,
        expect: Expect::Exactly(
            r"'use strict';

const double = (n) => n * 2;

var greeting = 'hello from the bundle';

console.log(greeting, double(21));
",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::NativeAddon, Trait::ComputedRequire],
        closure: Closure { files: 38, bytes: 5_559_159 },
    },
    // Formats a TypeScript file; the .cjs bin imports ESM, and the TypeScript and estree plugins are
    // loaded by import() of computed URLs.
    Program {
        name: "prettier",
        kind: "formatter",
        package: ("prettier", "3.10.2"),
        bin: "bin/prettier.cjs",
        files: &[(
            "src/messy.ts",
            r#"interface User {name:string;age?:number}
const users:User[]=[{name:'Ada',age:36},{name:"Grace"}]
export function names(list:User[]){return list.filter(u=>u.age!==undefined).map(u=>{ return u.name.toUpperCase() })}
"#,
        )],
        args: &["src/messy.ts"],
        stdin: None,
        expect: Expect::Exactly(
            r#"interface User {
  name: string;
  age?: number;
}
const users: User[] = [{ name: "Ada", age: 36 }, { name: "Grace" }];
export function names(list: User[]) {
  return list
    .filter((u) => u.age !== undefined)
    .map((u) => {
      return u.name.toUpperCase();
    });
}
"#,
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::ComputedRequire],
        closure: Closure { files: 57, bytes: 11_512_048 },
    },
    // Minifies an ES module; the package is "type": "module" but the extensionless bin is CommonJS.
    Program {
        name: "terser",
        kind: "minifier",
        package: ("terser", "5.51.4"),
        bin: "bin/terser",
        files: &[(
            "lib.js",
            r#"export function clamp(value, low, high) {
  const lower = Math.max(value, low);
  return Math.min(lower, high);
}
export const DEBUG = false;
if (DEBUG) {
  console.log("debugging");
}
export class Counter {
  #count = 0;
  increment() { this.#count += 1; return this.#count; }
}
"#,
        )],
        args: &["lib.js", "--module", "--compress", "--mangle"],
        stdin: None,
        expect: Expect::Exactly(
            r"export function clamp(t,n,o){const c=Math.max(t,n);return Math.min(c,o)}export const DEBUG=!1;export class Counter{#t=0;increment(){return this.#t+=1,this.#t}}
",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[],
        closure: Closure { files: 226, bytes: 4_472_890 },
    },
    // Minifies CSS at level 2 (merges rules); reads its own package.json with fs at start.
    Program {
        name: "clean-css",
        kind: "CSS minifier",
        package: ("clean-css-cli", "5.6.3"),
        bin: "bin/cleancss",
        files: &[(
            "style.css",
            r#"/* Site styles */
body {
  margin: 0px;
  padding: 0px 0px 0px 0px;
  color: #ff0000;
  background: url("img/bg.png") no-repeat;
}
.button { color: red; }
.button { border: 1px solid #000000; }
@media (min-width: 600px) {
  .button { padding: 10px 20px 10px 20px; }
}
"#,
        )],
        args: &["-O2", "style.css"],
        stdin: None,
        expect: Expect::Exactly(
            r#"body{margin:0;padding:0;color:red;background:url("img/bg.png") no-repeat}.button{color:red;border:1px solid #000}@media (min-width:600px){.button{padding:10px 20px}}"#,
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::ReadsFilesBesideItself],
        closure: Closure { files: 290, bytes: 2_256_878 },
    },
    // Minifies HTML with inline CSS (clean-css) and JS (terser).
    Program {
        name: "html-minifier-terser",
        kind: "HTML minifier",
        package: ("html-minifier-terser", "7.2.0"),
        bin: "cli.js",
        files: &[(
            "index.html",
            r#"<!DOCTYPE html>
<html>
  <head>
    <!-- page head -->
    <title>  Example page  </title>
    <style>
      body { color : red ; }
    </style>
  </head>
  <body>
    <p class="intro" id="">
      Hello,   <b>world</b>!
    </p>
    <script>
      var message = "hi";
      console.log( message );
    </script>
  </body>
</html>
"#,
        )],
        args: &["--collapse-whitespace", "--remove-comments", "--remove-empty-attributes", "--minify-css", "true", "--minify-js", "true", "index.html"],
        stdin: None,
        expect: Expect::Exactly(
            r#"<!DOCTYPE html><html><head><title>Example page</title><style>body{color:red}</style></head><body><p class="intro">Hello, <b>world</b>!</p><script>var message="hi";console.log(message)</script></body></html>"#,
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::EsmOnly],
        closure: Closure { files: 569, bytes: 10_591_437 },
    },
    // Restructures and minifies CSS.
    Program {
        name: "csso",
        kind: "CSS minifier",
        package: ("csso-cli", "4.0.2"),
        bin: "bin/csso",
        files: &[(
            "in.css",
            r".a { color: #ff0000; margin: 0px 0px; }
.b { color: red; margin: 0 }
.a { padding: 0 }
",
        )],
        args: &["in.css"],
        stdin: None,
        expect: Expect::Exactly(
            r".a,.b{color:red;margin:0}.a{padding:0}
",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[],
        closure: Closure { files: 487, bytes: 3_319_003 },
    },
    // Compiles SCSS with a module, a mixin, math and a loop. The closure holds @parcel/watcher's
    // prebuilt watcher.node (an optional dependency of sass), loaded lazily only by --watch: this run
    // does not load it.
    Program {
        name: "sass",
        kind: "CSS preprocessor",
        package: ("sass", "1.108.2"),
        bin: "sass.js",
        files: &[
            (
                "styles/main.scss",
                r#"@use "sass:math";
@use "theme";

$gutter: 12px;

@mixin card($pad) {
  padding: $pad;
  border-radius: math.div($pad, 4);
}

.card {
  @include card($gutter * 2);
  color: theme.$primary;
  &:hover { color: darken(theme.$primary, 10%); }
  .title { font-weight: bold; }
}

@each $size in small, large {
  .text-#{$size} { font-size: if($size == small, 12px, 20px); }
}
"#,
            ),
            (
                "styles/_theme.scss",
                r"$primary: #3366cc;
",
            ),
        ],
        args: &["--no-source-map", "--quiet-deps", "--silence-deprecation=color-functions", "--silence-deprecation=global-builtin", "--silence-deprecation=if-function", "styles/main.scss"],
        stdin: None,
        expect: Expect::Exactly(
            r".card {
  padding: 24px;
  border-radius: 6px;
  color: #3366cc;
}
.card:hover {
  color: rgb(16%, 32%, 64%);
}
.card .title {
  font-weight: bold;
}

.text-small {
  font-size: 12px;
}

.text-large {
  font-size: 20px;
}
",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::NativeAddon],
        closure: Closure { files: 170, bytes: 8_456_980 },
    },
    // Compiles Less with an import, a mixin, extend and operations.
    Program {
        name: "less",
        kind: "CSS preprocessor",
        package: ("less", "4.9.1"),
        bin: "bin/lessc",
        files: &[
            (
                "theme.less",
                r#"@import "vars.less";
.bordered(@width: 2px) {
  border: @width solid @border-color;
}
#header {
  color: darken(@brand, 10%);
  .navigation { font-size: 12px; }
  .logo:extend(.banner) { width: (@base * 3); }
  .bordered(4px);
}
.banner { display: block; }
"#,
            ),
            (
                "vars.less",
                r"@brand: #4d926f;
@border-color: #333;
@base: 10px;
",
            ),
        ],
        args: &["theme.less"],
        stdin: None,
        expect: Expect::Exactly(
            r"#header {
  color: #3b7156;
  border: 4px solid #333;
}
#header .navigation {
  font-size: 12px;
}
#header .logo {
  width: 30px;
}
.banner,
#header .logo {
  display: block;
}
",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::EsmOnly],
        closure: Closure { files: 421, bytes: 6_097_942 },
    },
    // Runs PostCSS with a config file (found and loaded by postcss-load-config through import())
    // holding an inline px-to-rem plugin; index.js awaits at top level.
    Program {
        name: "postcss",
        kind: "CSS tool",
        package: ("postcss-cli", "12.0.0"),
        bin: "index.js",
        files: &[
            (
                "postcss.config.cjs",
                r"// An inline plugin: rewrites px to rem and counts the declarations it changed.
const pxToRem = () => ({
  postcssPlugin: 'px-to-rem',
  Declaration(decl) {
    if (/\dpx/.test(decl.value)) {
      decl.value = decl.value.replace(/(\d+(?:\.\d+)?)px/g, (_, n) => `${Number(n) / 16}rem`);
    }
  },
});
pxToRem.postcss = true;
module.exports = { plugins: [pxToRem()] };
",
            ),
            (
                "in.css",
                r".box {
  margin: 16px 8px;
  font-size: 24px;
  border: 1px solid black;
}
",
            ),
        ],
        args: &["in.css", "--no-map"],
        stdin: None,
        expect: Expect::Exactly(
            r".box {
  margin: 1rem 0.5rem;
  font-size: 1.5rem;
  border: 0.0625rem solid black;
}
",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::EsmOnly, Trait::TopLevelAwait, Trait::ComputedRequire],
        closure: Closure { files: 352, bytes: 1_713_364 },
    },
    // Compiles Stylus; reads its own lib/functions/index.styl at run time; debug's optional
    // require('supports-color') fails.
    Program {
        name: "stylus",
        kind: "CSS preprocessor",
        package: ("stylus", "0.64.0"),
        bin: "bin/stylus",
        files: &[(
            "site.styl",
            r"brand = #0074d9
border-radius(n)
  -webkit-border-radius n
  border-radius n
.button
  color brand
  background lighten(brand, 20%)
  border-radius(4px)
  &:hover
    color darken(brand, 10%)
for i in 1..3
  .m-{i}
    margin (i * 4)px
",
        )],
        args: &["--print", "site.styl"],
        stdin: None,
        expect: Expect::Exactly(
            r".button {
  color: #0074d9;
  background: #1592ff;
  -webkit-border-radius: 4px;
  border-radius: 4px;
}
.button:hover {
  color: #0068c3;
}
.m-1 {
  margin: 4px;
}
.m-2 {
  margin: 8px;
}
.m-3 {
  margin: 12px;
}
",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::ReadsFilesBesideItself, Trait::OptionalDependencyMissing],
        closure: Closure { files: 642, bytes: 4_986_699 },
    },
    // Lints two files with a flat config and --concurrency 2: two worker threads start from
    // lib/eslint/worker.js (new Worker). Warnings only, so the exit status is 0. Stylish output names
    // files by absolute path, so only lines are checked; stderr has an ESLintPoorConcurrencyWarning
    // with the pid.
    Program {
        name: "eslint",
        kind: "linter",
        package: ("eslint", "10.16.0"),
        bin: "bin/eslint.js",
        files: &[
            (
                "eslint.config.mjs",
                r#"export default [
  {
    files: ["**/*.js"],
    languageOptions: { ecmaVersion: 2024, sourceType: "module", globals: { console: "readonly" } },
    rules: {
      "no-unused-vars": "warn",
      "eqeqeq": "warn",
      "prefer-const": "warn",
      "no-undef": "warn",
    },
  },
];
"#,
            ),
            (
                "src/a.js",
                r"let total = 0;
export function add(x) {
  const unused = 1;
  if (x == null) return total;
  total += x;
  return total;
}
",
            ),
            (
                "src/b.js",
                r#"export function greet(name) {
  let message = "Hello, " + name;
  console.log(message);
  return undefinedThing;
}
"#,
            ),
        ],
        args: &["--concurrency", "2", "--no-color", "src/a.js", "src/b.js"],
        stdin: None,
        expect: Expect::Contains(&[
            r"  3:9  warning  'unused' is assigned a value but never used  no-unused-vars
",
            r"  4:9  warning  Expected '===' and instead saw '=='          eqeqeq
",
            r"  2:7   warning  'message' is never reassigned. Use 'const' instead  prefer-const
",
            r"  4:10  warning  'undefinedThing' is not defined                     no-undef
",
            r"✖ 4 problems (0 errors, 4 warnings)
",
        ]),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::Worker, Trait::ComputedRequire, Trait::OptionalDependencyMissing],
        closure: Closure { files: 1_207, bytes: 12_996_680 },
    },
    // Fixes CSS given on stdin (the fixed code goes to stdout) and reports what is left on stderr;
    // rules are loaded by import() of computed paths.
    Program {
        name: "stylelint",
        kind: "linter",
        package: ("stylelint", "18.1.0"),
        bin: "bin/stylelint.mjs",
        files: &[(
            ".stylelintrc.json",
            r#"{
  "rules": {
    "color-hex-length": ["short", { "severity": "warning" }],
    "color-no-invalid-hex": [true, { "severity": "warning" }],
    "length-zero-no-unit": [true, { "severity": "warning" }],
    "unit-no-unknown": [true, { "severity": "warning" }]
  }
}
"#,
        )],
        args: &["--fix", "--stdin", "--stdin-filename", "app.css", "--formatter", "unix"],
        stdin: Some(
            r"a {
  color: #FFFFFF;
  margin: 0px 0em;
  width: 10pixels;
}
",
        ),
        expect: Expect::Exactly(
            r"a {
  color: #FFF;
  margin: 0 0;
  width: 10pixels;
}
",
        ),
        status: 0,
        stderr: &[r#"app.css:4:12: Unknown unit "pixels" (unit-no-unknown) [warning]"#],
        verify_args: &["--version"],
        traits: &[Trait::EsmOnly, Trait::ComputedRequire],
        closure: Closure { files: 1_132, bytes: 7_862_791 },
    },
    // Lints a Markdown file with a config: the report goes to stderr, stdout stays empty, exit status
    // 1.
    Program {
        name: "markdownlint",
        kind: "linter",
        package: ("markdownlint-cli", "0.50.0"),
        bin: "markdownlint.js",
        files: &[
            (
                ".markdownlint.json",
                r#"{ "default": true, "MD013": { "line_length": 40 } }
"#,
            ),
            (
                "README.md",
                r"# Title
Some text that is definitely longer than forty characters.
## Sub heading
* item
- other item
",
            ),
        ],
        args: &["README.md"],
        stdin: None,
        expect: Expect::Exactly(""),
        status: 1,
        stderr: &["README.md:2:41 error MD013/line-length Line length [Expected: 40; Actual: 58]", "README.md:5:1 error MD004/ul-style Unordered list style"],
        verify_args: &["--version"],
        traits: &[Trait::EsmOnly],
        closure: Closure { files: 1_380, bytes: 14_502_024 },
    },
    // Lints a file with a .jshintrc: the unix reporter prints to stdout, exit status 2. The reporter
    // and the work directory's package.json are loaded by require() of computed paths; reads its own
    // package.json.
    Program {
        name: "jshint",
        kind: "linter",
        package: ("jshint", "2.13.6"),
        bin: "bin/jshint",
        files: &[
            (
                ".jshintrc",
                r#"{ "undef": true, "unused": true, "eqeqeq": true, "esversion": 6, "node": true }
"#,
            ),
            (
                "app.js",
                r"var fs = require('fs');
function check(a) {
  if (a == 1) { return b }
  return a;
}
module.exports = check;
",
            ),
        ],
        args: &["--reporter=unix", "app.js"],
        stdin: None,
        expect: Expect::Exactly(
            r"app.js:3:11: Expected '===' and instead saw '=='.
app.js:3:25: Missing semicolon.
app.js:3:24: 'b' is not defined.
app.js:1:5: 'fs' is defined but never used.

4 errors
",
        ),
        status: 2,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::ComputedRequire, Trait::ReadsFilesBesideItself],
        closure: Closure { files: 1_391, bytes: 5_830_854 },
    },
    // Fixes code from stdin and prints it (eslint 8 with its shareable configs and plugins, loaded by
    // computed names); optional requires of typescript and old eslint internals fail.
    Program {
        name: "standard",
        kind: "linter",
        package: ("standard", "17.1.2"),
        bin: "bin/cmd.cjs",
        files: &[],
        args: &["--stdin", "--fix"],
        stdin: Some(
            r#"var a = "double quoted";;
function f (x) { return x+1 }
console.log(f(a), a)
"#,
        ),
        expect: Expect::Exactly(
            r"const a = 'double quoted'
function f (x) { return x + 1 }
console.log(f(a), a)
",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::ComputedRequire, Trait::ReadsFilesBesideItself, Trait::OptionalDependencyMissing],
        closure: Closure { files: 7_068, bytes: 27_231_047 },
    },
    // Renders a template with a JSON data file.
    Program {
        name: "ejs",
        kind: "template engine",
        package: ("ejs", "7.0.2"),
        bin: "bin/cli.js",
        files: &[
            (
                "invoice.ejs",
                r#"<h1>Invoice for <%= customer %></h1>
<ul>
<% items.forEach(function (item) { -%>
  <li><%= item.name %>: <%= (item.price * item.qty).toFixed(2) %></li>
<% }); -%>
</ul>
<p>Total: <%= items.reduce((s, i) => s + i.price * i.qty, 0).toFixed(2) %></p>
<%- "<em>raw</em>" %> <%= "<escaped>" %>
"#,
            ),
            (
                "data.json",
                r#"{"customer": "Ada", "items": [{"name": "tea", "price": 2.5, "qty": 2}, {"name": "cake", "price": 3.75, "qty": 1}]}
"#,
            ),
        ],
        args: &["invoice.ejs", "-f", "data.json"],
        stdin: None,
        expect: Expect::Exactly(
            r"<h1>Invoice for Ada</h1>
<ul>
  <li>tea: 5.00</li>
  <li>cake: 3.75</li>
</ul>
<p>Total: 8.75</p>
<em>raw</em> &lt;escaped&gt;
",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[],
        closure: Closure { files: 17, bytes: 247_499 },
    },
    // Precompiles a template to JavaScript.
    Program {
        name: "handlebars",
        kind: "template engine",
        package: ("handlebars", "4.7.10"),
        bin: "bin/handlebars",
        files: &[(
            "row.handlebars",
            r#"<tr class="{{#if active}}on{{else}}off{{/if}}">{{#each cells}}<td>{{this}}</td>{{/each}}</tr>
"#,
        )],
        args: &["row.handlebars"],
        stdin: None,
        expect: Expect::Exactly(
            r#"(function() {
  var template = Handlebars.template, templates = Handlebars.templates = Handlebars.templates || {};
templates["row"] = template({"0":function(container,depth0,helpers,partials,data) {
    return "on";
},"1":function(container,depth0,helpers,partials,data) {
    return "off";
},"2":function(container,depth0,helpers,partials,data) {
    return "<td>"
    + container.escapeExpression(container.lambda(depth0, depth0))
    + "</td>";
},"compiler":[8,">= 4.3.0"],"main":function(container,depth0,helpers,partials,data) {
    var stack1, alias1=depth0 != null ? depth0 : (container.nullContext || {}), lookupProperty = container.lookupProperty || function(parent, propertyName) {
        if (Object.prototype.hasOwnProperty.call(parent, propertyName)) {
          return parent[propertyName];
        }
        return undefined
    };

  return "<tr class=\""
    + ((stack1 = lookupProperty(helpers,"if").call(alias1,(depth0 != null ? lookupProperty(depth0,"active") : depth0),{"name":"if","hash":{},"fn":container.program(0, data, 0),"inverse":container.program(1, data, 0),"data":data,"loc":{"start":{"line":1,"column":11},"end":{"line":1,"column":45}}})) != null ? stack1 : "")
    + "\">"
    + ((stack1 = lookupProperty(helpers,"each").call(alias1,(depth0 != null ? lookupProperty(depth0,"cells") : depth0),{"name":"each","hash":{},"fn":container.program(2, data, 0),"inverse":container.noop,"data":data,"loc":{"start":{"line":1,"column":47},"end":{"line":1,"column":88}}})) != null ? stack1 : "")
    + "</tr>\n";
},"useData":true});
})();
"#,
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[],
        closure: Closure { files: 311, bytes: 5_617_895 },
    },
    // Renders Pug from stdin to pretty HTML (the last release of pug-cli, on pug 2). Through its
    // dependencies it reads uglify-js's lib/*.js with fs.
    Program {
        name: "pug",
        kind: "template engine",
        package: ("pug-cli", "1.0.0-alpha6"),
        bin: "index.js",
        files: &[],
        args: &["--pretty"],
        stdin: Some(
            r#"doctype html
html(lang="en")
  head
    title= "Pug page"
  body
    - var fruits = ["apple", "pear"]
    ul#list
      each fruit, index in fruits
        li(class=index === 0 ? "first" : null)= fruit
    p.note Plain #[strong text]
"#,
        ),
        expect: Expect::Exactly(
            r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <title>Pug page</title>
  </head>
  <body>
    <ul id="list">
      <li class="first">apple</li>
      <li>pear</li>
    </ul>
    <p class="note">Plain <strong>text</strong></p>
  </body>
</html>"#,
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::ReadsFilesBesideItself],
        closure: Closure { files: 3_835, bytes: 10_999_326 },
    },
    // Precompiles a directory of templates (nunjucks-precompile) to JavaScript; long, so substrings.
    Program {
        name: "nunjucks",
        kind: "template engine",
        package: ("nunjucks", "3.2.4"),
        bin: "bin/precompile",
        files: &[
            (
                "views/hello.html",
                r#"{% extends "base.html" %}
{% block body %}Hello {{ name | upper }}!{% endblock %}
"#,
            ),
            (
                "views/base.html",
                r"<main>{% block body %}{% endblock %}</main>
",
            ),
        ],
        args: &["views"],
        stdin: None,
        expect: Expect::Contains(&[
            r#"["base.html"] = (function() {"#,
            r#"["hello.html"] = (function() {"#,
            r#"env.getTemplate("base.html", true, "hello.html", false,"#,
            r#"output += "Hello ";"#,
            r#"env.getFilter("upper")"#,
        ]),
        status: 0,
        stderr: &[],
        verify_args: &["-h"],
        traits: &[],
        closure: Closure { files: 55, bytes: 1_965_866 },
    },
    // Markdown with a table to HTML; bin/markdown-it.mjs reads ../package.json at start.
    Program {
        name: "markdown-it",
        kind: "markdown",
        package: ("markdown-it", "15.0.3"),
        bin: "bin/markdown-it.mjs",
        files: &[(
            "notes.md",
            r#"Shopping list
=============

| item | qty |
|------|----:|
| eggs | 12  |
| milk | 1   |

- [link](http://example.com) and ~~strike~~
- "quotes" -- dashes
"#,
        )],
        args: &["notes.md"],
        stdin: None,
        expect: Expect::Exactly(
            r#"<h1>Shopping list</h1>
<table>
<thead>
<tr>
<th>item</th>
<th style="text-align:right">qty</th>
</tr>
</thead>
<tbody>
<tr>
<td>eggs</td>
<td style="text-align:right">12</td>
</tr>
<tr>
<td>milk</td>
<td style="text-align:right">1</td>
</tr>
</tbody>
</table>
<ul>
<li><a href="http://example.com">link</a> and <s>strike</s></li>
<li>&quot;quotes&quot; -- dashes</li>
</ul>
"#,
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::EsmOnly, Trait::ReadsFilesBesideItself],
        closure: Closure { files: 106, bytes: 2_905_051 },
    },
    // JSON5 to JSON.
    Program {
        name: "json5",
        kind: "data converter",
        package: ("json5", "2.2.3"),
        bin: "lib/cli.js",
        files: &[(
            "settings.json5",
            r#"// JSON5 allows comments
{
  name: 'app',
  version: 2,
  features: ['a', 'b',],
  hex: 0xFF,
  ratio: .5,
  nested: { "quoted": true, unquoted: Infinity },
}
"#,
        )],
        args: &["--space", "2", "settings.json5"],
        stdin: None,
        expect: Expect::Exactly(
            r#"{
  "name": "app",
  "version": 2,
  "features": [
    "a",
    "b"
  ],
  "hex": 255,
  "ratio": 0.5,
  "nested": {
    "quoted": true,
    "unquoted": null
  }
}"#,
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[],
        closure: Closure { files: 21, bytes: 256_070 },
    },
    // CSV to JSON with typed columns.
    Program {
        name: "csvtojson",
        kind: "data converter",
        package: ("csvtojson", "2.0.14"),
        bin: "bin/csvtojson",
        files: &[(
            "people.csv",
            r#"name,age,city
Ada,36,London
"Hopper, Grace",85,"New York"
Linus,28,Helsinki
"#,
        )],
        args: &["--checkType=true", "people.csv"],
        stdin: None,
        expect: Expect::Exactly(
            r#"[
{"name":"Ada","age":36,"city":"London"},
{"name":"Hopper, Grace","age":85,"city":"New York"},
{"name":"Linus","age":28,"city":"Helsinki"}
]
"#,
        ),
        status: 0,
        stderr: &[],
        verify_args: &["version"],
        traits: &[],
        closure: Closure { files: 1_125, bytes: 1_856_222 },
    },
    // YAML from stdin (anchors, folded text) to JSON.
    Program {
        name: "yaml",
        kind: "data converter",
        package: ("yaml", "2.9.1"),
        bin: "bin.mjs",
        files: &[],
        args: &["--json", "--indent", "2"],
        stdin: Some(
            r"%YAML 1.2
---
anchors:
  base: &base { a: 1, b: [x, y] }
  copy: *base
date: 2024-01-02
multi: >
  folded
  text
",
        ),
        expect: Expect::Exactly(
            r#"[
  {
    "anchors": {
      "base": {
        "a": 1,
        "b": [
          "x",
          "y"
        ]
      },
      "copy": {
        "a": 1,
        "b": [
          "x",
          "y"
        ]
      }
    },
    "date": "2024-01-02",
    "multi": "folded text\n"
  }
]
"#,
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--help"],
        traits: &[Trait::EsmOnly],
        closure: Closure { files: 234, bytes: 793_260 },
    },
    // Renders a banner: reads fonts/Standard.flf (and its package.json) beside itself.
    Program {
        name: "figlet",
        kind: "text banner",
        package: ("figlet", "1.12.0"),
        bin: "bin/index.js",
        files: &[],
        args: &["-f", "Standard", "Hi SEA"],
        stdin: None,
        expect: Expect::Exactly(
            r"  _   _ _   ____  _____    _    
 | | | (_) / ___|| ____|  / \   
 | |_| | | \___ \|  _|   / _ \  
 |  _  | |  ___) | |___ / ___ \ 
 |_| |_|_| |____/|_____/_/   \_\
                                
",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::EsmOnly, Trait::ReadsFilesBesideItself],
        closure: Closure { files: 1_031, bytes: 19_217_013 },
    },
    // Draws a cow: reads cows/tux.cow beside itself.
    Program {
        name: "cowsay",
        kind: "text banner",
        package: ("cowsay", "1.6.0"),
        bin: "cli.js",
        files: &[],
        args: &["-f", "tux", "Single executables!"],
        stdin: None,
        expect: Expect::Exactly(
            r" _____________________
< Single executables! >
 ---------------------
   \
    \
        .--.
       |o_o |
       |:_/ |
      //   \ \
     (|     | )
    /'\_   _/`\
    \___)=(___/

",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::ReadsFilesBesideItself],
        closure: Closure { files: 460, bytes: 1_329_126 },
    },
    // Styles a template with forced colour (--color), so the output has ANSI escapes; cli.js awaits at
    // top level and meow reads chalk-cli's package.json.
    Program {
        name: "chalk",
        kind: "terminal styling",
        package: ("chalk-cli", "6.0.0"),
        bin: "cli.js",
        files: &[],
        args: &["--color", "-t", "{red.bold Error:} {~bold.blue build} failed"],
        stdin: None,
        expect: Expect::Exactly("\u{1b}[31m\u{1b}[1mError:\u{1b}[22m\u{1b}[39m build failed\n"),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::EsmOnly, Trait::TopLevelAwait, Trait::ReadsFilesBesideItself],
        closure: Closure { files: 218, bytes: 1_050_767 },
    },
    // A name-based (v5) UUID, so the output is fixed.
    Program {
        name: "uuid",
        kind: "id generator",
        package: ("uuid", "14.0.3"),
        bin: "dist-node/bin/uuid",
        files: &[],
        args: &["v5", "sea-build", "URL"],
        stdin: None,
        expect: Expect::Exactly(
            r"bfd8cb5f-4d16-52ed-8c82-118d225c7752
",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--help"],
        traits: &[Trait::EsmOnly],
        closure: Closure { files: 71, bytes: 90_790 },
    },
    // An id from a one-letter alphabet, so the output is fixed.
    Program {
        name: "nanoid",
        kind: "id generator",
        package: ("nanoid", "6.0.2"),
        bin: "bin/nanoid.js",
        files: &[],
        args: &["--size", "12", "--alphabet", "x"],
        stdin: None,
        expect: Expect::Exactly(
            r"xxxxxxxxxxxx
",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--help"],
        traits: &[Trait::EsmOnly],
        closure: Closure { files: 12, bytes: 39_846 },
    },
    // Resolves a query. The data comes from caniuse-lite, a dependency with a range: explicit versions
    // keep the answer stable as it moves.
    Program {
        name: "browserslist",
        kind: "data tool",
        package: ("browserslist", "4.29.6"),
        bin: "cli.js",
        files: &[],
        args: &["chrome 100-102, firefox 115, not dead"],
        stdin: None,
        expect: Expect::Exactly(
            r"chrome 102
chrome 101
chrome 100
firefox 115
",
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[],
        closure: Closure { files: 906, bytes: 874_982 },
    },
    // Optimises an SVG to stdout; lib/svgo/coa.js reads ../../package.json with a top-level await.
    Program {
        name: "svgo",
        kind: "SVG optimizer",
        package: ("svgo", "4.1.0"),
        bin: "bin/svgo.js",
        files: &[(
            "icon.svg",
            r##"<?xml version="1.0" encoding="UTF-8"?>
<!-- Generator: hand -->
<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24">
  <g>
    <rect x="2.000" y="2.000" width="20.000" height="20.000" fill="#FF0000" stroke="none"/>
    <circle cx="12" cy="12" r="5.00000" fill="#ffffff"/>
  </g>
</svg>
"##,
        )],
        args: &["--input", "icon.svg", "--output", "-"],
        stdin: None,
        expect: Expect::Exactly(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24"><path fill="red" d="M2 2h20v20H2z"/><circle cx="12" cy="12" r="5" fill="#fff"/></svg>"##,
        ),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::EsmOnly, Trait::TopLevelAwait, Trait::ReadsFilesBesideItself],
        closure: Closure { files: 1_234, bytes: 8_632_924 },
    },
    // A static file server: its real run would not exit, so the real run prints the help. (serve was
    // left out: it checks the registry for updates on every start.)
    Program {
        name: "http-server",
        kind: "static file server",
        package: ("http-server", "14.1.1"),
        bin: "bin/http-server",
        files: &[],
        args: &["--help"],
        stdin: None,
        expect: Expect::Contains(&[
            r"usage: http-server [path] [options]
",
            r"  -p --port    Port to use. If 0, look for open port. [8080]
",
        ]),
        status: 0,
        stderr: &[],
        verify_args: &["-v"],
        traits: &[],
        closure: Closure { files: 738, bytes: 3_693_669 },
    },
    // Type-checks a project with two errors: exit status 2. It reads its lib.*.d.ts files beside
    // itself. 6.0 is the last compiler written in JavaScript: 7.x is a launcher for native binaries.
    Program {
        name: "typescript",
        kind: "compiler",
        package: ("typescript", "6.0.3"),
        bin: "bin/tsc",
        files: &[
            (
                "tsconfig.json",
                r#"{
  "compilerOptions": { "strict": true, "target": "es2022", "module": "nodenext", "noEmit": true, "pretty": false },
  "files": ["src/index.ts"]
}
"#,
            ),
            (
                "src/index.ts",
                r#"interface Point { x: number; y: number }
export function dist(a: Point, b: Point): number {
  return Math.hypot(a.x - b.x, a.y - b.y);
}
const origin: Point = { x: 0, y: "0" };
export const d: string = dist(origin, { x: 3, y: 4 });
"#,
            ),
        ],
        args: &["-p", "tsconfig.json"],
        stdin: None,
        expect: Expect::Exactly(
            r"src/index.ts(5,31): error TS2322: Type 'string' is not assignable to type 'number'.
src/index.ts(6,14): error TS2322: Type 'number' is not assignable to type 'string'.
",
        ),
        status: 2,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::ReadsFilesBesideItself],
        closure: Closure { files: 141, bytes: 24_421_022 },
    },
    // Compiles TypeScript to CommonJS with the @swc/core addon
    // (@swc/core-linux-x64-gnu/swc.linux-x64-gnu.node), after a failed require of a .node beside
    // binding.js. The closure also holds @napi-rs/nice's addon, which this run does not load.
    // @swc/core is a peer dependency that npm installs.
    Program {
        name: "swc",
        kind: "compiler",
        package: ("@swc/cli", "0.8.2"),
        bin: "bin/swc.js",
        files: &[
            (
                ".swcrc",
                r#"{ "jsc": { "parser": { "syntax": "typescript" }, "target": "es2017" }, "module": { "type": "commonjs" } }
"#,
            ),
            (
                "src/util.ts",
                r"export enum Level { Low = 1, High = 2 }
export const scale = (level: Level, value: number): number => value * level;
export async function later(ms: number) { await new Promise((r) => setTimeout(r, ms)); return ms ?? 0; }
",
            ),
        ],
        args: &["src/util.ts"],
        stdin: None,
        expect: Expect::Exactly(
            r#""use strict";
Object.defineProperty(exports, "__esModule", {
    value: true
});
function _export(target, all) {
    for(var name in all)Object.defineProperty(target, name, {
        enumerable: true,
        get: Object.getOwnPropertyDescriptor(all, name).get
    });
}
_export(exports, {
    get Level () {
        return Level;
    },
    get later () {
        return later;
    },
    get scale () {
        return scale;
    }
});
var Level = /*#__PURE__*/ function(Level) {
    Level[Level["Low"] = 1] = "Low";
    Level[Level["High"] = 2] = "High";
    return Level;
}({});
const scale = (level, value)=>value * level;
async function later(ms) {
    await new Promise((r)=>setTimeout(r, ms));
    return ms !== null && ms !== void 0 ? ms : 0;
}


"#,
        ),
        status: 0,
        stderr: &["Successfully compiled 1 file with swc."],
        verify_args: &["--version"],
        traits: &[Trait::NativeAddon, Trait::OptionalDependencyMissing],
        closure: Closure { files: 1_341, bytes: 17_603_475 },
    },
    // Decodes an SVG, resizes it and encodes PNG in a dry run that prints metadata (paths are
    // absolute, so substrings). The addon (sharp 0.35.4 when the corpus was made:
    // @img/sharp-linux-x64/lib/sharp-linux-x64-0.35.4.node) NEEDS libvips-cpp.so.8.18.6, found through
    // its RPATH $ORIGIN/../../sharp-libvips-linux-x64/lib in the sibling package
    // @img/sharp-libvips-linux-x64; sharp tries local builds and other packages first.
    Program {
        name: "sharp",
        kind: "image tool",
        package: ("sharp-cli", "6.1.0"),
        bin: "bin/cli.js",
        files: &[(
            "in.svg",
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="#336699"/><circle cx="10" cy="10" r="8" fill="#ffcc00"/></svg>
"##,
        )],
        args: &["--input", "in.svg", "--output", "out.png", "--dry", "--print", "resize", "20", "10"],
        stdin: None,
        expect: Expect::Contains(&[
            r#""input":{"format":"svg","mediaType":"image/svg+xml","size":161,"width":40,"height":20,"#,
            r#""output":{"format":"png","width":20,"height":10,"channels":4,"premultiplied":false,"hasAlpha":true,"size":215,"#,
        ]),
        status: 0,
        stderr: &[],
        verify_args: &["--version"],
        traits: &[Trait::NativeAddon, Trait::AddonWithSharedLibraries, Trait::EsmOnly, Trait::ComputedRequire, Trait::OptionalDependencyMissing, Trait::ReadsFilesBesideItself],
        closure: Closure { files: 629, bytes: 28_505_303 },
    },
];
