//! Generates the gRPC client from the server's `api/proto/ledger.proto`, the one
//! description of the wire protocol (tonic-build runs `protoc`; set `PROTOC` if it is not
//! on the PATH). Only the client is generated: the agent serves nothing.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../api/proto/ledger.proto");
    tonic_build::configure()
        .build_server(false)
        .build_client(true)
        .compile_protos(&["../api/proto/ledger.proto"], &["../api/proto"])?;
    Ok(())
}
