//! Node acquisition: resolve a version spec, find the binary in the cache or fetch it from a
//! source, verify it (source checksum, `sea.lock`), and cache it.
//!
//! ```no_run
//! use sea_build::{Env, node::{NodeFetcher, LockFile}};
//! let env = Env::from_process();
//! let fetcher = NodeFetcher::from_env(&env)?;
//! let node = fetcher.fetch(&"22".parse()?, "linux-x64".parse()?, None)?;
//! println!("node {} at {} (sha256 {})", node.version, node.path, node.binary_sha256);
//! # Ok::<(), sea_build::Error>(())
//! ```

mod archive;
mod cache;
mod http;
mod local;
mod lock;
mod lts;
mod npmrc;
mod platform;
mod source;
mod version;

use std::fmt::Write as _;
use std::io::{BufReader, Read, Write};
use std::sync::{Arc, OnceLock};

use crate::ErrorKind;
use anyhow::{Context, Result, anyhow};
use camino::{Utf8Path, Utf8PathBuf};

pub use archive::{ArchiveKind, extract_node_binary};
pub use cache::{Cache, CacheRecord};
pub use lock::{LockFile, LockedNode, LockedTool};
pub use lts::LtsOrigin;

pub use platform::{Arch, Os, Platform};
pub use source::{OFFICIAL_DIST, SourceKind};
pub use version::{Release, Version, VersionSpec, resolve};

pub(crate) use archive::{Member, extract_members};
use cache::{EntryKey, EntryLock, Lookup};
pub(crate) use http::{HashingWriter, Http};
pub(crate) use source::Npm;
use source::{Dist, Source};

use crate::Env;
use crate::progress::{Event, Reporter, Silent};

/// The one version a SEA's targets are built from ([`NodeFetcher::resolve_common`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommonVersion {
    /// The newest release every requested platform has.
    pub version: Version,
    /// The platforms whose own newest match is newer, with that version.
    pub newest: Vec<(Platform, Version)>,
}

/// A node binary ready to build from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeBinary {
    /// Its version.
    pub version: Version,
    /// The platform it runs on.
    pub platform: Platform,
    /// Where it came from: `dist`, `npm`, `path` or `local`.
    pub source: String,
    /// The archive's URL or path, when it came from one.
    pub origin: Option<String>,
    /// SHA-256 of the archive it came from, when it came from one.
    pub archive_sha256: Option<String>,
    /// SHA-256 of the binary.
    pub binary_sha256: String,
    /// The binary itself (in the cache, or where the user put it). Never modify it: copy it.
    pub path: Utf8PathBuf,
    /// Whether this call downloaded it (false: it was cached or local).
    pub downloaded: bool,
    /// The offset of the state byte of its unset SEA fuse, when the cache recorded it while
    /// verifying the binary (so injection need not search 120 MB for it); `None` otherwise.
    pub fuse_offset: Option<u64>,
    /// Node's `LICENSE` from the same archive, verified against the cache record like the
    /// binary; `None` for a local binary, an archive without one, or an entry cached before
    /// sea-build kept it.
    pub license: Option<Utf8PathBuf>,
}

impl NodeBinary {
    /// Why [`license`](NodeBinary::license) is `None`, for a warning: a release must still carry
    /// node's licence.
    ///
    /// ```
    /// # let node = sea_build::node::NodeBinary {
    /// #     version: "24.21.0".parse().unwrap(), platform: "win-x64".parse().unwrap(), source: "npm".into(), origin: None,
    /// #     archive_sha256: None, binary_sha256: String::new(), path: "node.exe".into(), downloaded: false, fuse_offset: None, license: None,
    /// # };
    /// assert!(node.missing_license_reason().contains("npm package"));
    /// ```
    pub fn missing_license_reason(&self) -> String {
        match self.source.as_str() {
            "local" | "path" => "a node given by path carries none beside it".to_owned(),
            // node's own npm packages for Windows hold node.exe alone.
            "npm" => format!("node's npm package for {} holds none, or the cache entry predates sea-build keeping it", self.platform),
            _ => format!("the cache entry predates sea-build keeping it: delete {} to fetch it again", crate::publish::dir_of(&self.path)),
        }
    }
}

/// Fetches, verifies and caches node binaries.
///
/// Configuration comes from the environment ([`NodeFetcher::from_env`]) and can be overridden
/// with the builder methods:
///
/// | variable | meaning |
/// |---|---|
/// | `SEA_BUILD_NODE_SOURCES` | source order, default `dist,npm` |
/// | `SEA_BUILD_NODE_MIRROR`, `NODEJS_ORG_MIRROR` | base URL of a dist mirror |
/// | `npm_config_registry` (and `.npmrc`) | the npm registry, as npm itself finds it |
/// | `SEA_BUILD_CACHE_DIR` | the cache directory |
/// | `SEA_BUILD_OFFLINE`, `CARGO_NET_OFFLINE` | use only the cache and local paths |
/// | `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY` | proxies |
pub struct NodeFetcher {
    env: Env,
    cache: Cache,
    sources: Vec<SourceKind>,
    dist_base: String,
    offline: bool,
    update: bool,
    rehash: bool,
    project_dir: Option<Utf8PathBuf>,
    reporter: Arc<dyn Reporter>,
    http: OnceLock<Http>,
    npm: OnceLock<Result<Arc<Npm>, String>>,
    /// Sources that could not be reached in this run: asked no more.
    unreachable: std::sync::Mutex<Vec<SourceKind>>,
    lts: OnceLock<lts::LtsLines>,
}

impl NodeFetcher {
    /// A fetcher configured from `env` (see the table above).
    pub fn from_env(env: &Env) -> crate::Result<NodeFetcher> {
        let sources = match env.var("SEA_BUILD_NODE_SOURCES") {
            Some(list) => list.split(',').filter(|s| !s.trim().is_empty()).map(str::parse).collect::<crate::Result<Vec<_>>>()?,
            None => vec![SourceKind::Dist, SourceKind::Npm],
        };
        let dist_base = env.var("SEA_BUILD_NODE_MIRROR").or_else(|| env.var("NODEJS_ORG_MIRROR")).unwrap_or_else(|| OFFICIAL_DIST.to_owned());
        Ok(NodeFetcher {
            cache: Cache::from_env(env)?,
            sources,
            dist_base,
            offline: env.flag("SEA_BUILD_OFFLINE") || env.flag("CARGO_NET_OFFLINE"),
            update: false,
            rehash: false,
            project_dir: None,
            reporter: Arc::new(Silent),
            http: OnceLock::new(),
            npm: OnceLock::new(),
            unreachable: Default::default(),
            lts: OnceLock::new(),
            env: env.clone(),
        })
    }

    /// Sends progress to `reporter`.
    pub fn reporter(mut self, reporter: Arc<dyn Reporter>) -> Self {
        self.reporter = reporter;
        self
    }

    /// Uses only the cache and local paths when `offline`.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Resolves versions anew instead of using what `sea.lock` pins.
    pub fn update(mut self, update: bool) -> Self {
        self.update = update;
        self
    }

    /// Re-hashes every cached binary it uses, instead of trusting a binary whose file stamp is
    /// the one recorded when it was verified (see [`Cache`]). `verify-cache` and `sea --verify`
    /// set this.
    ///
    /// ```
    /// let fetcher = sea_build::node::NodeFetcher::from_env(&sea_build::Env::from_process())?.verify_cache(true);
    /// # Ok::<(), sea_build::Error>(())
    /// ```
    pub fn verify_cache(mut self, rehash: bool) -> Self {
        self.rehash = rehash;
        self
    }

    /// Tries these sources, in this order.
    pub fn sources(mut self, sources: Vec<SourceKind>) -> Self {
        self.sources = sources;
        self
    }

    /// Uses this cache.
    pub fn cache(mut self, cache: Cache) -> Self {
        self.cache = cache;
        self
    }

    /// The project whose `.npmrc` applies (npm reads the project's before the user's).
    pub fn project_dir(mut self, dir: impl Into<Utf8PathBuf>) -> Self {
        self.project_dir = Some(dir.into());
        self
    }

    /// The cache in use.
    pub fn cache_dir(&self) -> &Utf8Path {
        self.cache.root()
    }

    /// Whether only the cache and local paths are used.
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// Finds the node binary `spec` names for `platform`. With a lock (its contents and path),
    /// a pinned request uses the pinned version, and the result must match the pinned hashes.
    /// A failure's [`ErrorKind`] says why: `OfflineMiss`, `NodeNotFound`, `Network`,
    /// `ChecksumMismatch`, `LockMismatch`, `DamagedInput`, `NotNode`, `Config`.
    ///
    /// ```
    /// use sea_build::{Env, ErrorKind, node::NodeFetcher};
    /// let cache = tempfile::tempdir()?;
    /// let fetcher = NodeFetcher::from_env(&Env::from_process().with_var("SEA_BUILD_CACHE_DIR", cache.path()))?.offline(true);
    /// let error = fetcher.fetch(&"22".parse()?, "linux-x64".parse()?, None).unwrap_err();
    /// assert_eq!(error.kind(), ErrorKind::OfflineMiss);
    /// assert!(error.to_string().contains("cargo xtask fetch --node 22"));
    /// # anyhow::Ok(())
    /// ```
    pub fn fetch(&self, spec: &VersionSpec, platform: Platform, lock: Option<(&LockFile, &Utf8Path)>) -> crate::Result<NodeBinary> {
        let node = match spec {
            VersionSpec::Local => self.local(platform)?,
            VersionSpec::Path(path) => self.fetch_path(path, platform)?,
            _ => self.release(spec, platform, lock)?,
        };
        if let Some((lock, path)) = lock {
            lock.check(spec, &node, path)?;
        }
        Ok(node)
    }

    fn step(&self, message: &str) {
        self.reporter.report(Event::Step(message));
    }

    /// Where progress goes.
    pub(crate) fn progress(&self) -> &dyn Reporter {
        &*self.reporter
    }

    pub(crate) fn http(&self) -> &Http {
        self.http.get_or_init(Http::new)
    }

    /// The npm registry, as npm's own configuration names it.
    pub(crate) fn npm(&self) -> Result<Arc<Npm>> {
        let npm = self.npm.get_or_init(|| npmrc::registry(&self.env, self.project_dir.as_deref()).map(|url| Arc::new(Npm::new(url))).map_err(|e| format!("{e:#}")));
        npm.clone().map_err(|e| anyhow!(e))
    }

    /// Remembers `kind` as out of reach for the rest of the run when `error` says its host
    /// could not be reached; returns what to add to the warning that names it (once).
    fn note_unreachable(&self, kind: SourceKind, error: &anyhow::Error) -> &'static str {
        let mut unreachable = self.unreachable.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !http::Unreachable::is_cause_of(error) || unreachable.contains(&kind) {
            return "";
        }
        unreachable.push(kind);
        " (not asked again in this run)"
    }

    fn is_unreachable(&self, kind: SourceKind) -> bool {
        self.unreachable.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&kind)
    }

    fn source(&self, kind: SourceKind) -> Result<Arc<dyn Source>> {
        Ok(match kind {
            SourceKind::Dist => Arc::new(Dist::new(&self.dist_base)?),
            SourceKind::Npm => self.npm()?,
        })
    }

    fn release(&self, spec: &VersionSpec, platform: Platform, lock: Option<(&LockFile, &Utf8Path)>) -> Result<NodeBinary> {
        let pinned = lock.and_then(|(lock, _)| lock.pinned(spec, platform)).filter(|_| !self.update);
        let known = pinned.map(|p| p.version).or(match spec {
            VersionSpec::Exact(version) => Some(*version),
            _ => None,
        });
        let cached = match known {
            Some(version) => Some(version),
            None if self.offline => self.cache.versions(platform).into_iter().filter(|v| spec.matches(*v)).max(),
            None => None,
        };
        if let Some(version) = cached
            && let Some(node) = self.cached(version, platform)?
        {
            return Ok(node);
        }
        if self.offline {
            let needed = known.map_or_else(|| format!("node {spec} for {platform}"), |v| format!("{}", self.cache.binary_path(v, platform)));
            crate::error::fail!(
                OfflineMiss,
                "offline (SEA_BUILD_OFFLINE or CARGO_NET_OFFLINE is set), and the cache in {} lacks {needed}. Prefetch it while online with `cargo xtask fetch --node {spec} --target {platform}`, or give a local node binary or archive as the node version",
                self.cache.root()
            );
        }
        if self.sources.is_empty() {
            crate::error::fail!(Config, "no node sources are configured (SEA_BUILD_NODE_SOURCES is empty): set it to `dist,npm`, or give a local node binary or archive as the node version");
        }
        let mut failures = Vec::new();
        // The source that served the pinned release is asked first.
        let mut sources = self.sources.clone();
        if let Some(pinned) = pinned {
            sources.sort_by_key(|kind| kind.name() != pinned.source);
        }
        for kind in sources.iter().filter(|kind| !self.is_unreachable(**kind)) {
            let attempt = self.source(*kind).and_then(|source| self.fetch_from_source(&*source, spec, known, platform).with_context(|| source.describe()));
            match attempt {
                Ok(node) => return Ok(node),
                Err(error) => {
                    let once = self.note_unreachable(*kind, &error);
                    if failures.len() + 1 < sources.len() {
                        self.reporter.report(Event::Warning(&format!("{error:#}; trying the next source{once}")));
                    }
                    failures.push(error);
                }
            }
        }
        let mut message = format!("could not get node {spec} for {platform}; every source failed:");
        for failure in &failures {
            let _ = write!(message, "\n  - {failure:#}");
        }
        message.push_str(
            "\nConfigure the sources with SEA_BUILD_NODE_SOURCES (e.g. `npm` or `dist,npm`), a dist mirror with SEA_BUILD_NODE_MIRROR or NODEJS_ORG_MIRROR, the npm registry with npm_config_registry or .npmrc, or give a local node binary or archive as the node version.",
        );
        Err(crate::error::tagged(most_telling(&failures), message))
    }

    /// The one version of `spec` to build every platform in `platforms` from: the newest
    /// release all of them have (the npm registry publishes each platform's package on its own
    /// schedule, so a major can resolve to different releases per platform). `None` for
    /// `local` and paths, which name one binary for one platform.
    ///
    /// An exact version is itself. A version `lock` pins for every platform, the same for
    /// all, is used without asking any source (unless [`NodeFetcher::update`] was set); a
    /// version it pins for some of them, or only for other platforms (a target added later),
    /// is kept when these platforms have it too, and is an error naming `--update` otherwise. Offline, only cached versions count. Each platform's
    /// releases come from the first source that lists them.
    ///
    /// ```
    /// use sea_build::{Env, ErrorKind, node::{NodeFetcher, Platform, Version, VersionSpec}};
    /// let cache = tempfile::tempdir()?;
    /// let fetcher = NodeFetcher::from_env(&Env::from_process().with_var("SEA_BUILD_CACHE_DIR", cache.path()))?.offline(true);
    /// let targets: Vec<Platform> = vec!["linux-x64".parse()?, "win-x64".parse()?];
    /// let exact = fetcher.resolve_common(&VersionSpec::Exact(Version::new(24, 11, 1)), &targets, None)?;
    /// assert_eq!(exact.map(|common| common.version), Some(Version::new(24, 11, 1)));
    /// let error = fetcher.resolve_common(&VersionSpec::Major(24), &targets, None).unwrap_err();
    /// assert_eq!(error.kind(), ErrorKind::OfflineMiss);
    /// # anyhow::Ok(())
    /// ```
    pub fn resolve_common(&self, spec: &VersionSpec, platforms: &[Platform], lock: Option<&LockFile>) -> crate::Result<Option<CommonVersion>> {
        match spec {
            VersionSpec::Local | VersionSpec::Path(_) => return Ok(None),
            VersionSpec::Exact(version) => return Ok(Some(CommonVersion { version: *version, newest: Vec::new() })),
            VersionSpec::Major(_) | VersionSpec::Lts | VersionSpec::Latest => {}
        }
        // What the lock pins for these platforms (nothing with --update).
        let here: Vec<(Platform, Version)> = match lock {
            Some(lock) if !self.update => platforms.iter().filter_map(|p| lock.pinned(spec, *p).map(|entry| (*p, entry.version))).collect(),
            _ => Vec::new(),
        };
        if let Some((_, first)) = here.first()
            && here.len() == platforms.len()
            && here.iter().all(|(_, v)| v == first)
        {
            return Ok(Some(CommonVersion { version: *first, newest: Vec::new() }));
        }
        // Platforms the lock does not pin yet keep to the version the request is pinned to on
        // others, as Cargo.lock keeps a resolution when a dependency is added.
        let pinned = match (here.is_empty(), lock) {
            (true, Some(lock)) if !self.update => {
                let request = spec.to_string();
                lock.nodes.iter().filter(|node| node.request == request).find_map(|node| Some((node.target.parse::<Platform>().ok()?, node.version))).into_iter().collect()
            }
            _ => here,
        };
        let mut per_platform: Vec<(Platform, Vec<Version>)> = Vec::new();
        for platform in platforms {
            let versions: Vec<Version> = if self.offline {
                self.cache.versions(*platform).into_iter().filter(|v| spec.matches(*v) && (*spec != VersionSpec::Lts || self.lts_lines().is_lts(*v))).collect()
            } else {
                let releases = self.releases_from_sources(*platform, Some(spec))?;
                releases.iter().filter(|r| spec.matches(r.version) && (*spec != VersionSpec::Lts || r.lts)).map(|r| r.version).collect()
            };
            per_platform.push((*platform, versions));
        }
        let common = per_platform.iter().map(|(_, versions)| versions).fold(None::<Vec<Version>>, |acc, versions| match acc {
            None => Some(versions.clone()),
            Some(acc) => Some(acc.into_iter().filter(|v| versions.contains(v)).collect()),
        });
        let newest: Vec<(Platform, Option<Version>)> = per_platform.iter().map(|(p, versions)| (*p, versions.iter().max().copied())).collect();
        if let Some((platform, version)) = pinned.first() {
            // A pin stays until `--update`: the other platforms must have that release too.
            let lacking: Vec<String> = per_platform.iter().filter(|(_, versions)| !versions.contains(version)).map(|(p, _)| p.to_string()).collect();
            let disagreeing: Vec<String> = pinned.iter().filter(|(_, v)| v != version).map(|(p, v)| format!("{p} to {v}")).collect();
            if lacking.is_empty() && disagreeing.is_empty() {
                return Ok(Some(CommonVersion { version: *version, newest: Vec::new() }));
            }
            crate::error::fail!(
                LockMismatch,
                "sea.lock pins node {spec} to {version} for {platform}{}{}: one version must serve every target; resolve it again with `cargo xtask fetch --node {spec} --update` and every --target",
                if disagreeing.is_empty() { String::new() } else { format!(", but {}", disagreeing.join(", ")) },
                if lacking.is_empty() { String::new() } else { format!(", which {} lack", lacking.join(", ")) }
            );
        }
        let Some(version) = common.and_then(|c| c.into_iter().max()) else {
            if self.offline {
                let targets: String = platforms.iter().map(|p| format!(" --target {p}")).collect();
                crate::error::fail!(
                    OfflineMiss,
                    "offline (SEA_BUILD_OFFLINE or CARGO_NET_OFFLINE is set), and the cache in {} holds no node {spec} for every one of the targets. Prefetch it while online with `cargo xtask fetch --node {spec}{targets}`, or give a local node binary or archive as the node version",
                    self.cache.root()
                );
            }
            let listing: Vec<String> = newest.iter().map(|(p, v)| format!("{p}: {}", v.map_or_else(|| "none".to_owned(), |v| v.to_string()))).collect();
            crate::error::fail!(
                NodeNotFound,
                "no release of node {spec} is published for all of {}{} (newest per platform: {}): build those targets from separate SEAs, or choose another version",
                platforms.iter().map(Platform::to_string).collect::<Vec<_>>().join(", "),
                if self.offline { " in the cache (offline)" } else { "" },
                listing.join(", ")
            );
        };
        let newest = newest.into_iter().filter_map(|(p, v)| v.filter(|v| *v > version).map(|v| (p, v))).collect();
        Ok(Some(CommonVersion { version, newest }))
    }

    /// The platforms that publish a release matching `spec` (what `--target all` builds):
    /// those whose release list, from the first source that has one, holds a match (offline:
    /// whose cache does). Fails when no platform's releases could be listed at all.
    ///
    /// ```
    /// use sea_build::{Env, ErrorKind, node::{NodeFetcher, VersionSpec}};
    /// let cache = tempfile::tempdir()?;
    /// let fetcher = NodeFetcher::from_env(&Env::from_process().with_var("SEA_BUILD_CACHE_DIR", cache.path()))?.offline(true);
    /// assert_eq!(fetcher.platforms_shipping(&VersionSpec::Major(24)).unwrap_err().kind(), ErrorKind::NodeNotFound);
    /// assert_eq!(fetcher.platforms_shipping(&VersionSpec::Local).unwrap_err().kind(), ErrorKind::Config);
    /// # anyhow::Ok(())
    /// ```
    pub fn platforms_shipping(&self, spec: &VersionSpec) -> crate::Result<Vec<Platform>> {
        if matches!(spec, VersionSpec::Local | VersionSpec::Path(_)) {
            crate::error::fail!(Config, "`--target all` needs a node version (such as `24`), not `{spec}`, which names one binary for one platform");
        }
        let mut shipping = Vec::new();
        let mut failures = Vec::new();
        for platform in Platform::all() {
            let versions: Vec<Version> = if self.offline {
                self.cache.versions(platform)
            } else {
                match self.releases_from_sources(platform, None) {
                    Ok(releases) => releases.into_iter().map(|r| r.version).collect(),
                    Err(error) => {
                        failures.push(error);
                        continue;
                    }
                }
            };
            if versions.into_iter().any(|v| spec.matches(v)) {
                shipping.push(platform);
            }
        }
        if shipping.is_empty() {
            let message =
                format!("no platform publishes node {spec}{}{}", if self.offline { " in the cache (offline)" } else { "" }, failures.iter().map(|f| format!("\n  - {f:#}")).collect::<String>());
            // When no platform's releases could be listed, why they could not is the kind.
            let kind = if failures.len() == Platform::all().count() { most_telling(&failures) } else { ErrorKind::NodeNotFound };
            return Err(crate::error::tagged(kind, message).into());
        }
        Ok(shipping)
    }

    /// Every release `platform` has, from the first source that lists them.
    fn releases_from_sources(&self, platform: Platform, spec: Option<&VersionSpec>) -> Result<Vec<Release>> {
        let mut failures = Vec::new();
        for kind in self.sources.iter().filter(|kind| !self.is_unreachable(**kind)) {
            match self.source(*kind).and_then(|source| {
                self.step(&format!("listing node releases for {platform} from {}", source.kind().name()));
                self.listed(source.as_ref(), platform, spec).with_context(|| source.describe())
            }) {
                Ok(releases) => return Ok(releases),
                Err(error) => {
                    // Listing falls back quietly, but a source out of reach is named once.
                    let once = self.note_unreachable(*kind, &error);
                    if !once.is_empty() && self.sources.len() > 1 {
                        self.reporter.report(Event::Warning(&format!("{error:#}; trying the next source{once}")));
                    }
                    failures.push(error);
                }
            }
        }
        let listing: String = failures.iter().map(|f| format!("\n  - {f:#}")).collect();
        Err(crate::error::tagged(most_telling(&failures), format!("could not list node releases for {platform}; every source failed:{listing}")))
    }

    /// `source`'s releases for `platform`; for `lts` from a source that does not say which
    /// releases are LTS (npm), marked by [`NodeFetcher::lts_lines`], and where that came from
    /// reported.
    fn listed(&self, source: &dyn Source, platform: Platform, spec: Option<&VersionSpec>) -> Result<Vec<Release>> {
        let mut releases = source.releases(self.http(), platform)?;
        if spec == Some(&VersionSpec::Lts) && source.kind() == SourceKind::Npm {
            let lines = self.lts_lines();
            self.step(&format!("LTS status of node releases for {platform} from {}", lines.origin));
            releases.iter_mut().for_each(|release| release.lts = lines.is_lts(release.version));
        }
        Ok(releases)
    }

    fn cached(&self, version: Version, platform: Platform) -> Result<Option<NodeBinary>> {
        match self.cache.lookup(&EntryKey::Release(version), platform, self.rehash)? {
            Lookup::Hit { record, binary, fuse_offset } => Ok(Some(from_record(record, binary, platform, fuse_offset))),
            Lookup::Miss => Ok(None),
            Lookup::Corrupt(why) => {
                self.reporter.report(Event::Warning(&format!("ignoring a damaged cache entry: {why}")));
                Ok(None)
            }
        }
    }

    fn fetch_from_source(&self, source: &dyn Source, spec: &VersionSpec, known: Option<Version>, platform: Platform) -> Result<NodeBinary> {
        let version = match known {
            Some(version) => version,
            None => {
                self.step(&format!("resolving node {spec} for {platform} from {}", source.kind().name()));
                let releases = self.listed(source, platform, Some(spec))?;
                resolve(spec, &releases).ok_or_else(|| {
                    let newest = releases.iter().map(|r| r.version).max().map_or("none".to_owned(), |v| v.to_string());
                    crate::error::tagged(ErrorKind::NodeNotFound, format!("no release matches `{spec}` for {platform} (newest there: {newest})"))
                })?
            }
        };
        if let Some(node) = self.cached(version, platform)? {
            return Ok(node);
        }
        let key = EntryKey::Release(version);
        let entry = self.cache.lock(&key, platform)?;
        // Another thread or process may have fetched it while we waited for the lock.
        match self.cache.lookup(&key, platform, self.rehash)? {
            Lookup::Hit { record, binary, fuse_offset } => return Ok(from_record(record, binary, platform, fuse_offset)),
            Lookup::Corrupt(_) => entry.invalidate()?,
            Lookup::Miss => {}
        }
        self.step(&format!("downloading node {version} for {platform} from {}", source.kind().name()));
        let downloaded = source.download(self.http(), version, platform, entry.temp_file()?, &*self.reporter)?;
        let origin = Origin { source: source.kind().name(), url: &downloaded.url, archive_sha256: &downloaded.sha256, version: Some(version) };
        let archive = downloaded.archive.reopen().with_context(|| format!("could not reopen the download of {}", downloaded.url))?;
        let mut node = extract_into(&entry, archive, downloaded.kind, platform, origin)?;
        node.downloaded = true;
        Ok(node)
    }

    fn local(&self, platform: Platform) -> Result<NodeBinary> {
        if !platform.is_host() {
            crate::error::fail!(Config, "`local` means the node on this machine's PATH, which cannot build for {platform}: choose a version such as `24`, or a path to a {platform} node binary");
        }
        let path = local::node_on_path(&self.env)?;
        let bytes = std::fs::read(&path).with_context(|| format!("could not read {path}"))?;
        local::check_node_binary(&bytes, &path, platform)?;
        Ok(NodeBinary {
            version: local::binary_version(&bytes, &path, platform)?,
            platform,
            source: "local".to_owned(),
            origin: None,
            archive_sha256: None,
            binary_sha256: crate::digest::sha256_hex(&bytes),
            path,
            downloaded: false,
            fuse_offset: None,
            license: None,
        })
    }

    fn fetch_path(&self, path: &Utf8Path, platform: Platform) -> Result<NodeBinary> {
        let mut head = [0u8; 8];
        let mut file = std::fs::File::open(path).with_context(|| format!("could not open the node binary or archive {path}"))?;
        let read = file.read(&mut head).with_context(|| format!("could not read {path}"))?;
        let Some(kind) = ArchiveKind::sniff(&head[..read]) else {
            let bytes = std::fs::read(path).with_context(|| format!("could not read {path}"))?;
            local::check_node_binary(&bytes, path, platform)?;
            return Ok(NodeBinary {
                version: local::binary_version(&bytes, path, platform)?,
                platform,
                source: "path".to_owned(),
                origin: Some(path.to_string()),
                archive_sha256: None,
                binary_sha256: crate::digest::sha256_hex(&bytes),
                path: path.to_owned(),
                downloaded: false,
                fuse_offset: None,
                license: None,
            });
        };
        drop(file);
        let archive_sha256 = crate::digest::sha256_file(path)?;
        let key = EntryKey::Archive(archive_sha256.clone());
        if let Lookup::Hit { record, binary, fuse_offset } = self.cache.lookup(&key, platform, self.rehash)? {
            return Ok(from_record(record, binary, platform, fuse_offset));
        }
        let entry = self.cache.lock(&key, platform)?;
        self.step(&format!("extracting node for {platform} from {path}"));
        let archive = std::fs::File::open(path).with_context(|| format!("could not open {path}"))?;
        let origin = Origin { source: "path", url: path.as_str(), archive_sha256: &archive_sha256, version: None };
        extract_into(&entry, archive, kind, platform, origin)
    }
}

/// The most telling kind of the failures of several sources: a tampered download over a
/// network error over a release that does not exist.
fn most_telling(failures: &[anyhow::Error]) -> ErrorKind {
    let kinds: Vec<ErrorKind> = failures.iter().filter_map(crate::error::kind_of).collect();
    [ErrorKind::ChecksumMismatch, ErrorKind::LockMismatch, ErrorKind::DamagedInput, ErrorKind::Network, ErrorKind::NodeNotFound]
        .into_iter()
        .find(|kind| kinds.contains(kind))
        .unwrap_or(ErrorKind::Other)
}

fn from_record(record: CacheRecord, binary: Utf8PathBuf, platform: Platform, fuse_offset: Option<u64>) -> NodeBinary {
    // The lookup or the install that gave `record` checked the licence it records.
    let license = record.license_sha256.is_some().then(|| binary.with_file_name(cache::LICENSE));
    NodeBinary {
        version: record.version,
        platform,
        source: record.source,
        origin: Some(record.url),
        archive_sha256: Some(record.archive_sha256),
        binary_sha256: record.binary_sha256,
        path: binary,
        downloaded: false,
        fuse_offset,
        license,
    }
}

/// Where an archive came from, for the cache record.
struct Origin<'a> {
    source: &'a str,
    url: &'a str,
    archive_sha256: &'a str,
    /// The version, when the source said; otherwise it is read from the binary.
    version: Option<Version>,
}

/// Extracts the binary and license from a verified archive into the locked entry, checks that
/// the binary is node for `platform`, and installs it.
fn extract_into(entry: &EntryLock, archive: std::fs::File, kind: ArchiveKind, platform: Platform, origin: Origin<'_>) -> Result<NodeBinary> {
    let name = origin.url;
    let mut binary = HashingWriter::new(entry.temp_file()?, false);
    let mut license: Option<(tempfile::NamedTempFile, String)> = None;
    archive::extract_node(BufReader::with_capacity(1 << 20, archive), kind, platform, name, &mut |member, data| {
        match member {
            archive::Member::Binary => {
                std::io::copy(data, &mut binary)?;
            }
            archive::Member::License => {
                let mut file = HashingWriter::new(entry.temp_file()?, false);
                std::io::copy(data, &mut file)?;
                file.flush()?;
                let (file, sha256, _) = file.finish();
                license = Some((file, sha256));
            }
        }
        Ok(())
    })?;
    binary.flush()?;
    let (binary, binary_sha256, _) = binary.finish();
    let temp_path = Utf8Path::from_path(binary.path()).context("the cache directory is not UTF-8")?;
    crate::fsutil::make_executable(temp_path)?;
    let bytes = std::fs::read(temp_path).with_context(|| format!("could not read back {temp_path}"))?;
    let shown = Utf8PathBuf::from(format!("the node binary in {name}"));
    local::check_node_binary(&bytes, &shown, platform)?;
    let fuse_offset = match crate::inject::fuse::find_fuse(&bytes) {
        Ok(crate::inject::fuse::FuseState::Unset { offset }) => Some(offset as u64),
        _ => None,
    };
    let version = match origin.version {
        Some(version) => version,
        None => local::binary_version(&bytes, temp_path, platform)?,
    };
    drop(bytes);
    let (license, license_sha256) = license.unzip();
    let record = CacheRecord {
        version,
        target: platform.node_name().to_owned(),
        source: origin.source.to_owned(),
        url: origin.url.to_owned(),
        archive_sha256: origin.archive_sha256.to_owned(),
        binary_sha256,
        license_sha256,
    };
    let path = entry.install(platform, binary, license, &record, fuse_offset)?;
    Ok(from_record(record, path, platform, fuse_offset))
}
