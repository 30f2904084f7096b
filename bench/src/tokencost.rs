//! `tokencost`: what a data token costs per request (issue 10): signing on the leader,
//! checking on a chunkserver, and the bytes it adds to each data request frame. Compare with
//! the time of a request itself (`databench`, BENCHMARKS.md): a 4 MiB write takes tens of
//! milliseconds, a 64 KiB read hundreds of microseconds.

use std::time::Instant;

use clap::Parser;
use proto::data::{DataCall, DataOp};
use proto::token::{DataToken, TokenMode};

#[derive(Parser)]
#[command(about = "Cost of signing and checking data tokens")]
struct Args {
    /// tokens signed and checked
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
}

fn main() {
    let args = Args::parse();
    let key = [7u8; 32];
    let chain: Vec<String> = ["10.0.0.21:9422", "10.0.0.22:9422", "10.0.0.23:9422"].map(String::from).to_vec();
    let t = Instant::now();
    let mut last = None;
    for i in 0..args.count {
        last = Some(DataToken::sign(1, &key, i, 3, TokenMode::Write, 1_900_000_000, chain.clone()));
    }
    let sign_ns = t.elapsed().as_nanos() as f64 / args.count as f64;
    let token = last.expect("count is at least 1");
    let t = Instant::now();
    let mut ok = 0u64;
    for _ in 0..args.count {
        ok += u64::from(token.check(&key, token.chunk_id, 3, TokenMode::Write, 1_800_000_000, 30).is_ok());
    }
    let check_ns = t.elapsed().as_nanos() as f64 / args.count as f64;
    let op = || DataOp::Write { chunk_id: 1, version: 3, offset: 0, data: Vec::new(), chain: chain[1..].to_vec() };
    let with = proto::frame::to_frame(&DataCall { token: Some(token.clone()), op: op() }).map(|f| f.len()).unwrap_or(0);
    let without = proto::frame::to_frame(&DataCall { token: None, op: op() }).map(|f| f.len()).unwrap_or(0);
    println!("sign (write token, chain of 3): {sign_ns:.0} ns");
    println!("check: {check_ns:.0} ns ({ok} of {} valid)", args.count);
    println!("bytes a token adds to a request frame: {}", with.saturating_sub(without));
}
