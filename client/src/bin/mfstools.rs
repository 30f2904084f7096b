//! `mfstools`: every MooseFS tool in one binary, chosen by the name it runs under
//! (`mfsgetgoal`, `mfsfileinfo`, ...) or by its first argument (`mfstools mfsgetgoal PATH`).

fn main() {
    std::process::exit(client::tools::main_from_args());
}
