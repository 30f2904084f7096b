//! `mfsmaster [-c CFG] [-f] [start|stop|restart|reload|status]`, as MooseFS.

fn main() -> anyhow::Result<()> {
    master::service::main("mfsmaster", "/etc/mfs/mfsmaster.cfg", false)
}
