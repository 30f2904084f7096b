//! `mfsdelquota`: one of the MooseFS tools; see [`client::tools`].

fn main() {
    std::process::exit(client::tools::main_for("mfsdelquota"));
}
