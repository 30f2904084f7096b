//! `mfsmount`: mount RaftMFS through FUSE; see [`client::fuse`] and `mfsmount --help`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(client::fuse::run::main(&args));
}
