//! Generates the gRPC server and client from `proto/ledger.proto` (tonic-build, which
//! runs `protoc`; set `PROTOC` if it is not on the PATH), and the table of the web
//! console's files (`console/`, any depth) that `ledgerd` serves from its own binary.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/ledger.proto");
    tonic_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos(&["proto/ledger.proto"], &["proto"])?;
    console_assets()?;
    Ok(())
}

/// Writes `$OUT_DIR/console_assets.rs`: `(path below console/, include_bytes!(file))`
/// for every file, sorted by path, so the console needs no files at run time and
/// adding a file to `console/` needs no change to the Rust code.
fn console_assets() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("console");
    // A directory makes cargo rerun the script when anything below it changes.
    println!("cargo:rerun-if-changed=console");
    let mut files = Vec::new();
    if root.is_dir() {
        collect(&root, &mut files)?;
    }
    files.sort();
    let mut out = String::from("/// The console's files: (path below `console/`, bytes).\n");
    out.push_str("pub static ASSETS: &[(&str, &[u8])] = &[\n");
    for file in &files {
        let rel = file.strip_prefix(&root)?.to_str().ok_or("non-UTF-8 path")?;
        let rel = rel.replace(std::path::MAIN_SEPARATOR, "/");
        // The path is resolved when the crate compiles, not baked in here: a target
        // directory shared between checkouts at different places would otherwise keep
        // pointing at the checkout that ran this script.
        writeln!(
            out,
            "    ({rel:?}, include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/console/\", {rel:?}))),"
        )?;
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR")?).join("console_assets.rs");
    std::fs::write(dest, out)?;
    Ok(())
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}
