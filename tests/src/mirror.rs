//! A dist mirror on 127.0.0.1: a directory laid out like the official download site
//! (`index.json`, `vX.Y.Z/SHASUMS256.txt`, `vX.Y.Z/node-vX.Y.Z-<platform>.<ext>`) served over
//! HTTP, counting requests and able to serve tampered bytes in place of any file.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use sea_build::digest::sha256_hex;
use sea_build::node::{NodeBinary, Os, Version};

/// One line of the mirror's release index.
pub struct IndexedRelease {
    /// The version.
    pub version: Version,
    /// The LTS codename, if it is an LTS release.
    pub lts: Option<&'static str>,
    /// Platforms as the index names their files (`linux-x64`, `win-x64-zip`, `osx-x64-tar`).
    pub files: Vec<&'static str>,
}

/// The files of a mirror, on disk.
pub struct DistTree {
    dir: tempfile::TempDir,
}

impl DistTree {
    /// A tree whose index lists `releases`, holding an archive for each of `binaries`.
    pub fn build(releases: &[IndexedRelease], binaries: &[&NodeBinary]) -> Result<DistTree> {
        let dir = tempfile::tempdir()?;
        let tree = DistTree { dir };
        let index: Vec<serde_json::Value> =
            releases.iter().map(|r| serde_json::json!({"version": r.version.tag(), "files": r.files, "lts": r.lts.map_or(serde_json::Value::Bool(false), |c| c.into())})).collect();
        fs::write(tree.root().join("index.json"), serde_json::to_vec(&index)?)?;
        let mut shasums: HashMap<Version, String> = HashMap::new();
        for node in binaries {
            let (name, bytes) = official_archive(node)?;
            let release_dir = tree.root().join(node.version.tag());
            fs::create_dir_all(&release_dir)?;
            fs::write(release_dir.join(&name), &bytes)?;
            shasums.entry(node.version).or_default().push_str(&format!("{}  {name}\n", sha256_hex(&bytes)));
        }
        for (version, text) in shasums {
            fs::write(tree.root().join(version.tag()).join("SHASUMS256.txt"), text)?;
        }
        Ok(tree)
    }

    /// The directory served.
    pub fn root(&self) -> &Utf8Path {
        Utf8Path::from_path(self.dir.path()).expect("temporary directories are UTF-8 here")
    }
}

/// The official archive for `node`: `node-vX.Y.Z-<platform>.tar.gz` (or `.zip` on Windows)
/// holding `node-vX.Y.Z-<platform>/bin/node` (or `/node.exe`) and a LICENSE.
pub fn official_archive(node: &NodeBinary) -> Result<(String, Vec<u8>)> {
    let top = format!("node-{}-{}", node.version.tag(), node.platform.node_name());
    let binary = fs::read(&node.path).with_context(|| format!("reading {}", node.path))?;
    let license = b"Node.js is licensed for use as follows: (test copy)\n";
    if node.platform.os == Os::Windows {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).compression_level(Some(1));
        zip.start_file(format!("{top}/node.exe"), options)?;
        zip.write_all(&binary)?;
        zip.start_file(format!("{top}/LICENSE"), options)?;
        zip.write_all(license)?;
        return Ok((format!("{top}.zip"), zip.finish()?.into_inner()));
    }
    let entries: Vec<(String, &[u8])> = vec![(format!("{top}/LICENSE"), license), (format!("{top}/bin/node"), &binary)];
    let borrowed: Vec<(&str, &[u8])> = entries.iter().map(|(p, b)| (p.as_str(), *b)).collect();
    Ok((format!("{top}.tar.gz"), tar_gz(&borrowed)))
}

/// A `.tar.gz` of `entries`, paths written byte for byte (so tests can write hostile ones).
pub fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (path, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        header.set_entry_type(tar::EntryType::Regular);
        let name = &mut header.as_gnu_mut().expect("a GNU header").name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        builder.append(&header, *data).expect("writing to memory");
    }
    builder.into_inner().and_then(|gz| gz.finish()).expect("writing to memory")
}

/// A running mirror.
pub struct MirrorServer {
    url: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    replaced: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MirrorServer {
    /// Serves `root` on a free port of 127.0.0.1.
    pub fn serve(root: &Utf8Path) -> Result<MirrorServer> {
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(|e| anyhow::anyhow!("could not listen on 127.0.0.1: {e}"))?;
        let port = server.server_addr().to_ip().context("an IP listener")?.port();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let replaced: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (root, hits, replaced, stop) = (root.to_owned(), hits.clone(), replaced.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(Some(request)) = server.recv_timeout(Duration::from_millis(50)) else { continue };
                    let path = request.url().trim_start_matches('/').to_owned();
                    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                    let replacement = replaced.lock().unwrap().get(&path).cloned();
                    let root = root.clone();
                    // One thread per request, as a real server would, so concurrent clients
                    // really download concurrently.
                    std::thread::spawn(move || respond(request, &root, &path, replacement));
                }
            })
        };
        Ok(MirrorServer { url: format!("http://127.0.0.1:{port}"), hits, replaced, stop, thread: Some(thread) })
    }

    /// The base URL, to use as `SEA_BUILD_NODE_MIRROR`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many requests asked for `path` (relative to the root, e.g. `v22.23.3/SHASUMS256.txt`).
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// How many requests asked for any archive.
    pub fn archive_hits(&self) -> usize {
        self.hits.lock().unwrap().iter().filter(|(p, _)| p.ends_with(".tar.gz") || p.ends_with(".zip") || p.ends_with(".tar.xz")).map(|(_, n)| n).sum()
    }

    /// Serves `bytes` for `path` from now on.
    pub fn replace(&self, path: &str, bytes: Vec<u8>) {
        self.replaced.lock().unwrap().insert(path.to_owned(), bytes);
    }
}

fn respond(request: tiny_http::Request, root: &Utf8Path, path: &str, replacement: Option<Vec<u8>>) {
    let result = if let Some(bytes) = replacement {
        request.respond(tiny_http::Response::from_data(bytes))
    } else if path.split('/').any(|part| part == "..") {
        request.respond(tiny_http::Response::empty(400))
    } else {
        let file: Utf8PathBuf = root.join(path);
        match fs::File::open(&file) {
            Ok(file) if file.metadata().is_ok_and(|m| m.is_file()) => request.respond(tiny_http::Response::from_file(file)),
            _ => request.respond(tiny_http::Response::empty(404)),
        }
    };
    // A client that gave up is not the server's problem.
    let _ = result;
}

impl Drop for MirrorServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
