//! What each policy feature adds to a request's router CPU, on the platform's `me`
//! operation: an APQ hit, a persisted-document hit, the authorization check and the cost
//! estimate, each stage run on its own (`router::bench_support`) so that microseconds are
//! not lost in the noise of a network round trip. Targets (issue 13): each ≤ 20 µs.
//!
//! `cargo bench -p router --bench policy` (ROUNDS=5 by default, 200,000 calls each; the
//! median of the rounds is reported).

const ME: &str = "query Me {\n  me {\n    id\n    email\n    firstName\n    lastName\n    role\n    createdAt\n  }\n}";
const CALLS: u32 = 200_000;

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let bench = runtime.block_on(router::bench_support::PolicyBench::new(
        &format!("{root}/schema/supergraph.graphql"),
        &format!("{root}/schema/persisted-documents.json"),
        ME,
    ))?;
    // One thread in a tight loop: its wall time is its CPU time (the kernel's per-thread
    // CPU clock updates too seldom for microseconds); the median of the rounds drops a
    // round another process interrupted.
    let started = std::time::Instant::now();
    let cpu = || started.elapsed().as_secs_f64();
    println!("| stage | µs per request (median of {rounds} rounds of {CALLS}) |");
    println!("|---|---|");
    let report = |name: &str, run: &mut dyn FnMut() -> bool| {
        let mut samples = Vec::new();
        for _ in 0..rounds {
            let start = cpu();
            for _ in 0..CALLS {
                assert!(run(), "{name} did not do its work");
            }
            samples.push((cpu() - start) / f64::from(CALLS) * 1e6);
        }
        samples.sort_by(f64::total_cmp);
        println!("| {name} | {:.2} |", samples[samples.len() / 2]);
    };
    report("APQ hit (hash only)", &mut || {
        runtime.block_on(bench.apq_hit())
    });
    report("persisted document hit (documentId)", &mut || {
        runtime.block_on(bench.document_hit())
    });
    report("authorization check (@authenticated on me)", &mut || {
        bench.authorize()
    });
    report("cost estimate", &mut || bench.estimate() > 0);
    report("baseline: an empty block_on", &mut || {
        runtime.block_on(async { true })
    });
    Ok(())
}
