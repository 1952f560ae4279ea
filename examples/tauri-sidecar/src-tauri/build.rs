// Tells the app the Rust target triple it is built for: the suffix of its sidecar's name in
// binaries/ (Tauri drops it when it bundles the sidecar beside the app).
// A Tauri app's own build script, which reads Cargo's variables as any build script does.
#[allow(clippy::disallowed_methods)]
fn main() {
    let target = std::env::var("TARGET").expect("Cargo sets TARGET for build scripts");
    println!("cargo::rustc-env=SIDECAR_TARGET={target}");
}
