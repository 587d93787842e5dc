//! A bounded load test of `rp serve` on loopback: C concurrent clients send R requests in all, each of
//! B records of the APE model's card (records vary, so each is sampled), and the requests/s, records/s
//! and p50/p99 latency are printed. Every response must be 200.
//!
//!     cargo run --release --example serve_load -- URL TOKEN CLIENTS REQUESTS RECORDS_PER_REQUEST
use std::time::{Duration, Instant};

fn pick(names: &[&'static str], i: usize) -> &'static str {
    names[i % names.len()]
}

fn record(i: usize) -> serde_json::Value {
    serde_json::json!({"age": 20 + i % 60, "income": 20000 + 37 * (i % 2000), "household_size": 1 + i % 5, "dependents": i % 4,
        "bmi": 18.0 + (i % 230) as f64 / 10.0, "visits": i % 7, "hospitalizations": i % 2, "hypertension": i % 2, "diabetes": (i / 2) % 2,
        "asthma": (i / 3) % 2, "systolic_bp": 100 + i % 50, "diastolic_bp": 60 + i % 30, "ldl": 80 + i % 90, "hba1c": 4.5 + (i % 40) as f64 / 10.0,
        "sex": pick(&["Female", "Male"], i), "region": pick(&["East", "North", "South", "West"], i), "urban_rural": pick(&["Rural", "Suburban", "Urban"], i),
        "education": pick(&["Bachelor", "Doctorate", "HighSchool", "Master"], i), "marital_status": pick(&["Divorced", "Married", "Single"], i),
        "employment_status": pick(&["Employed", "Retired", "SelfEmployed", "Unemployed"], i), "smoker": pick(&["Current", "Former", "Never"], i),
        "alcohol_freq": pick(&["Daily", "None", "Occasional", "Weekly"], i), "plan_type": pick(&["Bronze", "Gold", "Platinum", "Silver"], i)})
}

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    anyhow::ensure!(a.len() == 6, "usage: serve_load URL TOKEN CLIENTS REQUESTS RECORDS_PER_REQUEST");
    let (url, token) = (format!("{}/v1/predict", a[1]), format!("Bearer {}", a[2]));
    let (clients, requests, per): (usize, usize, usize) = (a[3].parse()?, a[4].parse()?, a[5].parse()?);
    let start = Instant::now();
    let mut lat: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let (url, token) = (&url, &token);
                s.spawn(move || {
                    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build();
                    let mut out = Vec::new();
                    for r in (c..requests).step_by(clients) {
                        let records: Vec<_> = (0..per).map(|k| record(r * per + k)).collect();
                        let body = serde_json::json!({ "records": records }).to_string();
                        let t = Instant::now();
                        let resp = agent.post(url).set("Authorization", token).set("Content-Type", "application/json").send_string(&body);
                        match resp {
                            Ok(r) if r.status() == 200 => out.push(t.elapsed()),
                            Ok(r) => panic!("status {}", r.status()),
                            Err(e) => panic!("{e}"),
                        }
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("client thread")).collect()
    });
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "{clients} clients, {requests} requests of {per} record(s): {:.0} requests/s, {:.0} records/s, latency p50 {:.1} ms, p99 {:.1} ms",
        requests as f64 / secs,
        (requests * per) as f64 / secs,
        q(0.5),
        q(0.99)
    );
    Ok(())
}
