//! Running a mount: options, password, background, connect (the masters check the export
//! rules), mount, serve, unmount.
//!
//! Background mode forks before any thread exists: the child connects and mounts and tells the
//! parent through a pipe whether the mount is up, so errors print on the terminal and the
//! parent exits 0 only once the file system is usable.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fuser::MountOption;
use proto::client::WriteOp;
use proto::meta::ROOT_INODE;

use super::fs::RaftMfs;
use super::meta_fs::MetaFs;
use super::mount_opts::{usage, MountOpts};
use super::shared::{FsConfig, Shared};
use crate::data_path::FileIo;
use crate::error::ClientError;
use crate::master_client::{ClientConfig, MasterClient};

/// Longest wait for the first answer of the masters at mount time.
const CONNECT_WAIT: Duration = Duration::from_secs(30);
/// How often an otherwise idle mount tells the masters its session is alive (sessions idle
/// for `SESSION_SUSTAIN_TIME` are closed by the masters).
const KEEPALIVE_EVERY: Duration = Duration::from_secs(600);
/// Longest wait for `CloseSession` at unmount.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Where the outcome of mounting goes: the terminal, or the parent waiting on a pipe.
enum Ready {
    Terminal,
    Pipe(std::fs::File),
}

impl Ready {
    fn fail(self, msg: &str) -> i32 {
        match self {
            Ready::Terminal => eprintln!("mfsmount: {msg}"),
            Ready::Pipe(mut f) => {
                let _ = f.write_all(format!("E{msg}").as_bytes());
            }
        }
        1
    }

    fn ok(self) {
        if let Ready::Pipe(mut f) = self {
            let _ = f.write_all(b"OK");
        }
    }
}

/// `mfsmount` with its arguments (without the program name). Returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let mut opts = match MountOpts::from_args(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mfsmount: {e}\nsee 'mfsmount --help'");
            return 1;
        }
    };
    if opts.help {
        print!("{}", usage("mfsmount"));
        return 0;
    }
    if opts.version {
        println!("mfsmount (RaftMFS) {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let Some(mp) = opts.mountpoint.clone() else {
        eprintln!("mfsmount: no mount point given\nsee 'mfsmount --help'");
        return 1;
    };
    let mountpoint = match std::fs::canonicalize(&mp) {
        Ok(p) if p.is_dir() => p,
        Ok(p) => {
            eprintln!("mfsmount: {}: not a directory", p.display());
            return 1;
        }
        Err(e) => {
            eprintln!("mfsmount: {}: {e}", mp.display());
            return 1;
        }
    };
    if let Err(e) = opts.subfolder_parts() {
        eprintln!("mfsmount: {e}");
        return 1;
    }
    if opts.ask_password && opts.password.is_none() {
        match read_password("MFS Password:") {
            Ok(p) => opts.password = Some(p),
            Err(e) => {
                eprintln!("mfsmount: can't read the password: {e}");
                return 1;
            }
        }
    }
    let ready = if opts.foreground {
        Ready::Terminal
    } else {
        match daemonize() {
            Ok(ready) => ready,
            Err(e) => {
                eprintln!("mfsmount: can't go to the background: {e}");
                return 1;
            }
        }
    };
    init_logging(&opts);
    serve(opts, mountpoint, ready)
}

/// Fork. The parent waits for the child's word on the pipe and exits with it; the child gets
/// the pipe's write end.
fn daemonize() -> std::io::Result<Ready> {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two new descriptors into `fds`.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptors were just created and are owned here only.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: no other thread exists yet (no runtime, no logging thread).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid > 0 {
        drop(wr);
        let mut msg = String::new();
        let mut f = std::fs::File::from(rd);
        let _ = f.read_to_string(&mut msg);
        if msg == "OK" {
            std::process::exit(0);
        }
        match msg.strip_prefix('E') {
            Some(e) => eprintln!("mfsmount: {e}"),
            None => eprintln!("mfsmount: the mount process ended before the file system was mounted"),
        }
        std::process::exit(1);
    }
    drop(rd);
    // SAFETY: setsid has no memory effects; failing only means we already lead a session.
    unsafe {
        libc::setsid();
    }
    Ok(Ready::Pipe(std::fs::File::from(wr)))
}

fn init_logging(opts: &MountOpts) {
    // fuser logs an error when it unmounts a mount point `umount` already took away.
    let default = if opts.debug { "debug,fuser::mnt=off" } else { "info,fuser::mnt=off" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false);
    if opts.foreground {
        let _ = builder.with_writer(std::io::stderr).try_init();
    } else if let Some(path) = &opts.log_file {
        match std::fs::OpenOptions::new().create(true).append(true).open(path) {
            Ok(f) => {
                let _ = builder.with_writer(std::sync::Mutex::new(f)).try_init();
            }
            Err(e) => eprintln!("mfsmount: can't open log file {}: {e}", path.display()),
        }
    }
}

/// Point stdin, stdout and stderr of a background mount at /dev/null.
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors; `null` stays open until then.
            unsafe {
                libc::dup2(null.as_raw_fd(), fd);
            }
        }
    }
    // SAFETY: chdir to "/" so the mount does not keep a directory busy.
    unsafe {
        libc::chdir(c"/".as_ptr());
    }
}

/// Connect, mount, serve until unmounted. Returns the exit code.
fn serve(opts: MountOpts, mountpoint: PathBuf, ready: Ready) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return ready.fail(&format!("can't start the runtime: {e}")),
    };
    let masters = opts.master_addrs();
    let host = hostname();
    let password_md5 = match opts.password_md5() {
        Ok(p) => p,
        Err(e) => return ready.fail(&e),
    };
    let cfg = ClientConfig {
        masters: masters.clone(),
        op_timeout: opts.op_timeout,
        call_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(1),
        info: format!("mfsmount {host}:{}", mountpoint.display()),
        subfolder: format!("/{}", opts.subfolder_parts().unwrap_or_default().join("/")),
        password_md5,
        meta: opts.meta,
        tool_of: None,
    };
    // The masters check the export rules (address, subfolder, password) and answer the
    // subfolder as inode 1: the mount needs no translation of its own.
    let connected = rt.block_on(async {
        match tokio::time::timeout(CONNECT_WAIT, MasterClient::connect(cfg)).await {
            Ok(Ok(m)) => Ok(Arc::new(m)),
            Ok(Err(ClientError::Refused(reason))) => Err(format!("mfsmaster: {reason}")),
            Ok(Err(e)) => Err(format!("can't connect to the masters ({}): {e}", masters.join(","))),
            Err(_) => Err(format!(
                "can't connect to the masters ({}): no leader answered within {CONNECT_WAIT:?}",
                masters.join(",")
            )),
        }
    });
    let meta = match connected {
        Ok(m) => m,
        Err(e) => return ready.fail(&e),
    };
    let mut mount_opts = opts.fuse_opts.clone();
    if !mount_opts.iter().any(|o| matches!(o, MountOption::FSName(_))) {
        mount_opts.push(MountOption::FSName(format!("mfs#{}", masters.first().cloned().unwrap_or_default())));
    }
    if !mount_opts.iter().any(|o| matches!(o, MountOption::Subtype(_))) {
        mount_opts.push(MountOption::Subtype("mfs".into()));
    }
    // As MooseFS's mfsmount: a mount root makes is for every user (permissions are the masters'
    // to check), unless `allow_root` asks otherwise.
    // SAFETY: geteuid cannot fail and touches no memory.
    let by_root = unsafe { libc::geteuid() } == 0;
    if by_root && !mount_opts.iter().any(|o| matches!(o, MountOption::AllowOther | MountOption::AllowRoot)) {
        mount_opts.push(MountOption::AllowOther);
    }
    if opts.meta {
        // The meta tree's folders are root's, 0700 and the like: the kernel enforces them.
        if !mount_opts.contains(&MountOption::DefaultPermissions) {
            mount_opts.push(MountOption::DefaultPermissions);
        }
        let fs = MetaFs::new(meta.clone(), opts.flat_trash, rt.handle().clone());
        return mount_and_serve(fs, &opts, mountpoint, &mount_opts, ready, rt, meta, &masters);
    }
    let root = ROOT_INODE;
    let io = Arc::new(FileIo::new(meta.clone()));
    let fs_cfg = FsConfig {
        attr_ttl: opts.attr_ttl,
        entry_ttl: opts.entry_ttl,
        xattr_ttl: opts.xattr_ttl,
        write_cache: opts.write_cache,
        readahead: opts.readahead,
        cache_mode: opts.cache_mode,
        posix_locks: opts.posix_locks,
        bsd_locks: opts.bsd_locks,
    };
    let shared = Arc::new(Shared::new(io, root, fs_cfg, &masters, &opts.subfolder));
    let fs = RaftMfs::new(shared.clone(), rt.handle().clone());
    mount_and_serve(fs, &opts, mountpoint, &mount_opts, ready, rt, meta, &masters)
}

/// Mount `fs`, serve it until unmounted, close the session. Returns the exit code.
#[allow(clippy::too_many_arguments)]
fn mount_and_serve<FS: fuser::Filesystem>(
    fs: FS,
    opts: &MountOpts,
    mountpoint: PathBuf,
    mount_opts: &[MountOption],
    ready: Ready,
    rt: tokio::runtime::Runtime,
    meta: Arc<MasterClient>,
    masters: &[String],
) -> i32 {
    let mut session = match fuser::Session::new(fs, &mountpoint, mount_opts) {
        Ok(s) => s,
        Err(e) => {
            let _ = rt.block_on(async { tokio::time::timeout(CLOSE_WAIT, meta.close()).await });
            return ready.fail(&format!("can't mount {}: {e}", mountpoint.display()));
        }
    };
    tracing::info!(
        mountpoint = %mountpoint.display(),
        masters = %masters.join(","),
        subfolder = %opts.subfolder,
        session = meta.session_id(),
        "mounted"
    );
    let background = matches!(ready, Ready::Pipe(_));
    ready.ok();
    if background {
        detach_stdio();
    }
    let unmounter = session.unmount_callable();
    rt.spawn(unmount_on_signal(unmounter, mountpoint.clone()));
    rt.spawn(keepalive(meta.clone()));
    let result = session.run();
    drop(session); // destroy(): flushes buffered writes
    let code = match result {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(error = %e, "FUSE session ended with an error");
            1
        }
    };
    match rt.block_on(async { tokio::time::timeout(CLOSE_WAIT, meta.close()).await }) {
        Ok(Ok(())) => tracing::info!(session = meta.session_id(), "unmounted; session closed"),
        Ok(Err(e)) => tracing::warn!(error = %e, "unmounted; closing the session failed"),
        Err(_) => tracing::warn!("unmounted; the masters did not answer CloseSession in time"),
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    code
}

/// Unmount on SIGTERM, SIGINT or SIGHUP: the session loop then ends.
async fn unmount_on_signal(mut unmounter: fuser::SessionUnmounter, mountpoint: PathBuf) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
    else {
        tracing::warn!("can't install signal handlers");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = hup.recv() => {}
    }
    tracing::info!(mountpoint = %mountpoint.display(), "signal received; unmounting");
    let r = tokio::task::spawn_blocking(move || unmounter.unmount()).await;
    if !matches!(r, Ok(Ok(()))) {
        tracing::warn!("unmount on signal failed; use umount");
    }
}

/// Keep the session from expiring while the mount is idle: a no-op write (releasing inode 0,
/// which is never open) refreshes the session on the masters.
async fn keepalive(meta: Arc<MasterClient>) {
    let creds = proto::meta::Creds::root();
    loop {
        tokio::time::sleep(KEEPALIVE_EVERY).await;
        if let Err(e) = meta.write(&creds, WriteOp::Release { ino: 0 }).await {
            tracing::warn!(error = %e, "session keepalive failed");
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// Ask for a password on the terminal, without echo.
fn read_password(prompt: &str) -> std::io::Result<String> {
    use std::os::fd::AsRawFd;
    let mut tty = std::fs::OpenOptions::new().read(true).write(true).open(Path::new("/dev/tty"))?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for a valid descriptor.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    let have_termios = unsafe { libc::tcgetattr(fd, &mut old) } == 0;
    if have_termios {
        let mut quiet = old;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: valid descriptor and termios.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    tty.write_all(prompt.as_bytes())?;
    tty.flush()?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    let res = loop {
        match tty.read(&mut byte) {
            Ok(0) => break Ok(()),
            Ok(_) if byte[0] == b'\n' => break Ok(()),
            Ok(_) => line.push(byte[0]),
            Err(e) => break Err(e),
        }
    };
    if have_termios {
        // SAFETY: restore the settings read above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    }
    res?;
    Ok(String::from_utf8_lossy(&line).trim_end_matches('\r').to_string())
}
