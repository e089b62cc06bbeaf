//! Raw ONNX Runtime throughput of a model, the ceiling the services are measured against:
//! sentences per second at batch 1, 16 and 32, with 1 and 2 intra-op threads, through the same
//! `Model::forward` the services use, on pre-tokenised review-like sentences.
//!
//!   cargo run --release -p aras-inference --example raw_throughput -- <model id> [seconds per case] [sentence]
//!
//! With a sentence, every batch repeats it (the load generator's request, for a like-for-like
//! ceiling); without, batches cycle through eight review-like sentences of mixed lengths.

use std::path::Path;
use std::time::{Duration, Instant};

use aras_inference::manifest::Manifest;
use aras_inference::{Encoded, Model, runtime};

const SENTENCES: [&str; 8] = [
    "Excellent véhicule, très confortable et fiable !",
    "The car was clean, comfortable and cheap to rent.",
    "Le livreur était en retard de deux heures et très impoli.",
    "Terrible experience: the van broke down on the highway.",
    "J'ai loué la voiture pour trois jours.",
    "I picked up the car at the airport on Monday.",
    "Citadine pratique et agréable à conduire en ville, parfait pour mon séjour.",
    "Hidden fees everywhere, a complete rip-off.",
];

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let id = args
        .next()
        .unwrap_or_else(|| "multilingual-e5-small".into());
    let seconds: f64 = args.next().map_or(Ok(3.0), |s| s.parse())?;
    let sentences: Vec<String> = match args.next() {
        Some(sentence) => vec![sentence],
        None => SENTENCES.iter().map(|s| (*s).to_owned()).collect(),
    };
    let models = Path::new("models");
    let manifest = Manifest::load(&models.join("models.toml"))?;
    let spec = manifest
        .models
        .iter()
        .find(|m| m.id == id)
        .ok_or_else(|| anyhow::anyhow!("no model {id}"))?
        .clone();
    let environment = runtime::init(&runtime::default_library_path())?;
    println!("model {id}: sentences/s (median batch latency), {seconds} s per case");
    println!("| threads | batch 1 | batch 16 | batch 32 |");
    println!("|---:|---:|---:|---:|");
    for threads in [1, 2] {
        let model = Model::load(&models.join(&id), spec.clone(), &environment, 1, threads)?;
        let prefix = if spec.text_prefix.is_empty() {
            &spec.query_prefix
        } else {
            &spec.text_prefix
        };
        let encoded: Vec<Encoded> = sentences
            .iter()
            .map(|s| model.encode(&format!("{prefix}{s}")))
            .collect::<Result<_, _>>()?;
        let mut cells = Vec::new();
        for batch in [1, 16, 32] {
            let inputs: Vec<&Encoded> = encoded.iter().cycle().take(batch).collect();
            let mut latencies = Vec::new();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs_f64(seconds) {
                let t = Instant::now();
                model.forward(0, &inputs)?;
                latencies.push(t.elapsed());
            }
            let rate = (latencies.len() * batch) as f64 / started.elapsed().as_secs_f64();
            latencies.sort();
            let median = latencies[latencies.len() / 2].as_secs_f64() * 1e3;
            cells.push(format!("{rate:.1} ({median:.1} ms)"));
        }
        println!("| {threads} | {} |", cells.join(" | "));
    }
    Ok(())
}
