//! Generates the gRPC server and client from `proto/ledger.proto` (tonic-build, which
//! runs `protoc`; set `PROTOC` if it is not on the PATH).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/ledger.proto");
    tonic_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos(&["proto/ledger.proto"], &["proto"])?;
    Ok(())
}
