//! A real headless browser (Chromium, Debian's package: `scripts/install-test-tools.sh`) for
//! the status page: it loads a page, runs its script (which fetches the page's data and builds
//! the tables) and hands back the document as the browser built it.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Chromium binary, or a panic that says how to install it.
pub fn chromium() -> &'static str {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new("sh").arg("-c").arg(format!("command -v {b}")).output().is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| panic!("no Chromium: run scripts/install-test-tools.sh (apt-get install -y chromium)"))
}

/// Load `url` in headless Chromium, let its scripts run for up to `budget` of the page's
/// (virtual) time, and return the document as the browser serialized it. `None` when the
/// browser failed or took longer than `limit` in real time.
pub fn dump_dom(url: &str, budget: Duration, limit: Duration) -> Option<String> {
    // A profile of its own: tests in one binary run at once, and Chromium locks its profile.
    let profile = tempfile::Builder::new().prefix("raftmfs-chromium-").tempdir().ok()?;
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--virtual-time-budget={}", budget.as_millis()))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut out = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let text = reader.join().ok()?;
                return (status.success() && !text.is_empty()).then_some(text);
            }
            Ok(None) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// The text inside the element with `id` (its first text node; enough for the page's
/// single-value fields), unescaped for the few entities a serializer writes.
pub fn text_of(dom: &str, id: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let rest = &dom[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find('<')? + start;
    Some(unescape(&rest[start..end]))
}

/// The table rows (`<tr ...>...</tr>`) inside the element with `id`.
pub fn rows_of<'a>(dom: &'a str, id: &str) -> Vec<&'a str> {
    let Some(at) = dom.find(&format!("id=\"{id}\"")) else { return Vec::new() };
    let rest = &dom[at..];
    let end = rest.find("</table>").unwrap_or(rest.len());
    rest[..end].split("<tr").skip(1).map(|r| r.split("</tr>").next().unwrap_or(r)).collect()
}

/// The text of every cell of a row from [`rows_of`].
pub fn cells(row: &str) -> Vec<String> {
    row.split("<td")
        .skip(1)
        .filter_map(|c| c.split_once('>').map(|(_, t)| unescape(t.split("</td>").next().unwrap_or(t))))
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}
