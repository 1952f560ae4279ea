// Builds the SEA declared in [package.metadata.sea] for this crate's target.
fn main() {
    sea_build::Build::new().build();
}
