//! Empty on purpose. The `[build-dependencies]` of this crate pin the features of
//! RocksDB's build-time dependencies so that the C++ build is shared by every cargo
//! command (see the comment in Cargo.toml); a build-dependency only takes part in
//! feature resolution when the package has a build script.
fn main() {}
