//! The model-inversion experiment's files: Figure 3 (PNG, SVG), the table (CSV, Markdown), every run
//! (CSV), the reconstructions as image grids (PNG per setting), the models (ONNX with model cards) and
//! report.md.
use super::mia::{grid_images, queries_per_second, Outcome, Setting, Summary};
use crate::mia::oracle::Vote;
use crate::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

/// The paper's numbers (§6, Figure 3; FaceNet64 on CelebA, always-label smoothing).
pub const PAPER: &str = "ASR 73% without RP; σ = 0.1, n = 100: ASR 4% at 59% accuracy; σ = 0.03, n = 100: ASR 44% at 100% accuracy; larger n lowered ASR";

fn io(path: &Path, e: impl std::fmt::Display) -> crate::Error {
    crate::Error::Io { path: path.into(), err: std::io::Error::other(e.to_string()) }
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|err| crate::Error::Io { path: path.into(), err })
}

/// Writes every file into `dir` (which exists) and returns report.md's text.
pub fn write(o: &Outcome, dir: &Path) -> Result<String> {
    let grids = dir.join("grids");
    let models = dir.join("models");
    for d in [&grids, &models] {
        std::fs::create_dir_all(d).map_err(|err| crate::Error::Io { path: d.clone(), err })?;
    }
    write_text(&dir.join("table.csv"), &table_csv(&o.settings))?;
    write_text(&dir.join("table.md"), &table_md(&o.settings))?;
    write_text(&dir.join("runs.csv"), &runs_csv(o))?;
    figure3(o, &dir.join("figure3"))?;
    for (s, summary) in o.settings.iter().enumerate() {
        image_grid(o, s, &grids.join(format!("{}.png", summary.name)))?;
    }
    write_models(o, &models)?;
    let report = report(o);
    write_text(&dir.join("report.md"), &report)?;
    Ok(report)
}

fn setting_columns(s: &Setting) -> (String, String, String) {
    match s {
        Setting::Base => ("base".into(), String::new(), String::new()),
        Setting::Smoothed { sigma, n, vote: Vote::Majority } => ("always-label".into(), format!("{sigma}"), format!("{n}")),
        Setting::Smoothed { sigma, n, vote: Vote::Predict { alpha } } => (format!("predict (α = {alpha})"), format!("{sigma}"), format!("{n}")),
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x:.4}"))
}

fn table_csv(rows: &[Summary]) -> String {
    let mut s = String::from("setting,oracle,sigma,n,runs,started,successes,asr,asr_lo95,asr_hi95,accuracy,abstained,queries,queries_per_run,seconds,median_growths,median_smoothed_radius,median_crown_radius\n");
    for r in rows {
        let (oracle, sigma, n) = setting_columns(&r.setting);
        let _ = writeln!(
            s,
            "{},{oracle},{sigma},{n},{},{},{},{:.4},{:.4},{:.4},{:.4},{},{},{:.0},{:.2},{},{},{}",
            r.name,
            r.runs,
            r.started,
            r.successes,
            r.asr,
            r.asr_ci.0,
            r.asr_ci.1,
            r.accuracy,
            r.abstained,
            r.queries,
            r.queries as f64 / r.runs.max(1) as f64,
            r.seconds,
            r.median_growths,
            opt(r.median_smoothed_radius),
            opt(r.median_crown_radius)
        );
    }
    s
}

fn table_md(rows: &[Summary]) -> String {
    let mut s = String::from("| oracle | σ | n | ASR (95% CI) | accuracy | queries / run | smoothed radius (median) | CROWN radius of the base (median) |\n|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let (oracle, sigma, n) = setting_columns(&r.setting);
        let _ = writeln!(
            s,
            "| {oracle} | {sigma} | {n} | {:.0}% ({}/{}; {:.0}–{:.0}%) | {:.1}%{} | {:.0} | {} | {} |",
            100.0 * r.asr,
            r.successes,
            r.runs,
            100.0 * r.asr_ci.0,
            100.0 * r.asr_ci.1,
            100.0 * r.accuracy,
            if r.abstained > 0 { format!(" ({} abstained)", r.abstained) } else { String::new() },
            r.queries as f64 / r.runs.max(1) as f64,
            opt(r.median_smoothed_radius),
            opt(r.median_crown_radius)
        );
    }
    s
}

fn runs_csv(o: &Outcome) -> String {
    let mut s = String::from("setting,target,restart,started,success,growths,rounds,accepted,queries,final_radius,seconds,smoothed_radius,crown_radius\n");
    for r in &o.runs {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{:.6},{:.3},{},{}",
            o.settings[r.setting].name,
            r.run.target,
            r.restart,
            r.run.started,
            r.run.success,
            r.run.growths,
            r.run.rounds,
            r.run.accepted,
            r.run.queries,
            r.run.radius,
            r.seconds,
            opt(r.smoothed_radius),
            opt(r.crown_radius)
        );
    }
    s
}

/// Figure 3: ASR (solid, with 95% intervals) and accuracy (dashed) against σ, one colour per oracle
/// kind and n; the base network's as dotted horizontal lines.
fn figure3(o: &Outcome, stem: &Path) -> Result<()> {
    super::plot::register_font();
    let size = (900, 560);
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        draw_figure3(&root, o).map_err(|e| io(&png, e))?;
        root.present().map_err(|e| io(&png, e))?;
    }
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        draw_figure3(&root, o).map_err(|e| io(&svg, e))?;
        root.present().map_err(|e| io(&svg, e))?;
    }
    Ok(())
}

const COLOURS: [RGBColor; 4] = [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

fn draw_figure3<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, o: &Outcome) -> std::result::Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let x_max = o.config.sigmas.iter().fold(0.0f64, |m, &s| m.max(s)) * 1.05;
    let mut chart = ChartBuilder::on(root)
        .caption("BREP-MI against the smoothed target (8×8 digits): ASR solid, accuracy dashed", ("sans-serif", 19))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..x_max, 0.0..100.0)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("σ (pixels in [0, 1])")
        .y_desc("%")
        .label_style(("sans-serif", 14))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    // the base network: dotted horizontal lines
    if let Some(base) = o.settings.iter().find(|s| s.setting == Setting::Base) {
        for (value, label, colour) in [(100.0 * base.asr, format!("base: ASR {:.0}%", 100.0 * base.asr), BLACK), (100.0 * base.accuracy, format!("base: accuracy {:.0}%", 100.0 * base.accuracy), RGBColor(120, 120, 120))] {
            chart
                .draw_series(DashedLineSeries::new(vec![(0.0, value), (x_max, value)], 2, 5, colour.stroke_width(2)))
                .map_err(e)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        }
    }
    // one colour per (oracle kind, n)
    let mut groups: Vec<(String, Vec<&Summary>)> = Vec::new();
    for s in &o.settings {
        let key = match s.setting {
            Setting::Base => continue,
            Setting::Smoothed { n, vote: Vote::Majority, .. } => format!("always-label, n = {n}"),
            Setting::Smoothed { n, vote: Vote::Predict { .. }, .. } => format!("PREDICT (abstains), n = {n}"),
        };
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.1.push(s),
            None => groups.push((key, vec![s])),
        }
    }
    for (g, (key, rows)) in groups.iter().enumerate() {
        let colour = COLOURS[g % COLOURS.len()];
        let sigma = |s: &Summary| match s.setting {
            Setting::Smoothed { sigma, .. } => sigma,
            Setting::Base => 0.0,
        };
        let asr: Vec<(f64, f64)> = rows.iter().map(|s| (sigma(s), 100.0 * s.asr)).collect();
        let acc: Vec<(f64, f64)> = rows.iter().map(|s| (sigma(s), 100.0 * s.accuracy)).collect();
        chart
            .draw_series(LineSeries::new(asr.clone(), colour.stroke_width(2)).point_size(4))
            .map_err(e)?
            .label(format!("{key}: ASR"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        chart
            .draw_series(rows.iter().map(|s| ErrorBar::new_vertical(sigma(s), 100.0 * s.asr_ci.0, 100.0 * s.asr, 100.0 * s.asr_ci.1, colour.stroke_width(1), 8)))
            .map_err(e)?;
        chart
            .draw_series(DashedLineSeries::new(acc, 8, 5, colour.stroke_width(2)))
            .map_err(e)?
            .label(format!("{key}: accuracy"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], colour.stroke_width(2)));
    }
    super::plot::legend(&mut chart, SeriesLabelPosition::LowerLeft)
}

/// The reconstructions of one setting: a row per target class, a column per start; a green frame when
/// the evaluator assigns the image to the target, red when not, a grey cell with no reconstruction (no
/// start, or the radius never grew).
fn image_grid(o: &Outcome, setting: usize, path: &Path) -> Result<()> {
    let grid = grid_images(o, setting);
    let (cell, pad, scale) = (8 * 6 + 8, 4, 6);
    let cols = o.config.restarts;
    let size = ((cols * cell + 2 * pad) as u32, (grid.len() * cell + 2 * pad) as u32);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    let draw = || -> std::result::Result<(), String> {
        let e = |x: DrawingAreaErrorKind<_>| format!("{x:?}");
        root.fill(&WHITE).map_err(e)?;
        for (t, row) in grid.iter().enumerate() {
            for (c, img) in row.iter().enumerate() {
                let (x0, y0) = ((pad + c * cell) as i32, (pad + t * cell) as i32);
                let frame = match img {
                    Some((_, true)) => RGBColor(40, 160, 40),
                    Some((_, false)) => RGBColor(200, 40, 40),
                    None => RGBColor(200, 200, 200),
                };
                root.draw(&Rectangle::new([(x0 + 1, y0 + 1), (x0 + cell as i32 - 2, y0 + cell as i32 - 2)], frame.filled())).map_err(e)?;
                let (ix, iy) = (x0 + 4, y0 + 4);
                match img {
                    Some((x, _)) => {
                        for (p, &v) in x.iter().enumerate() {
                            let g = (255.0 * (1.0 - v.clamp(0.0, 1.0))).round() as u8;
                            let (px, py) = (ix + (p % 8) as i32 * scale, iy + (p / 8) as i32 * scale);
                            root.draw(&Rectangle::new([(px, py), (px + scale, py + scale)], RGBColor(g, g, g).filled())).map_err(e)?;
                        }
                    }
                    None => {
                        root.draw(&Rectangle::new([(ix, iy), (ix + 8 * scale, iy + 8 * scale)], RGBColor(235, 235, 235).filled())).map_err(e)?;
                    }
                }
            }
        }
        root.present().map_err(e)
    };
    draw().map_err(|m| io(path, m))
}

/// The target and evaluator as ONNX with model cards (the evaluator's is its architecture only).
fn write_models(o: &Outcome, dir: &Path) -> Result<()> {
    for (name, net, opts, acc) in [("target", &o.target, &o.config.target, o.target_accuracy), ("evaluator", &o.evaluator, &o.config.evaluator, o.evaluator_accuracy)] {
        let path = dir.join(format!("{name}.onnx"));
        crate::net::write_onnx(net, &path)?;
        let card = serde_json::json!({
            "model": format!("{name}.onnx"),
            "task": "8×8 handwritten digits (UCI, Alpaydin & Kaynak 1998, CC BY 4.0), 10 classes",
            "inputs": "64 pixels, row-major 8×8, scaled to [0, 1] (value / 16)",
            "outputs": "10 logits; the answer is their argmax",
            "architecture": format!("64 → {} → 10 (ReLU)", opts.hidden.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(" → ")),
            "training": { "split": "the private part's training share (rp reproduce mia)", "options": opts },
            "held_out_accuracy": acc,
        });
        write_text(&dir.join(format!("{name}.card.json")), &serde_json::to_string_pretty(&card).expect("json"))?;
    }
    Ok(())
}

/// Whether ASR went up or down from the smallest to the largest n at each σ, in words.
fn n_effect(o: &Outcome) -> String {
    let ns = &o.config.ns;
    if ns.len() < 2 {
        return "one n only: no n effect measured.".into();
    }
    let (lo, hi) = (*ns.iter().min().expect("n"), *ns.iter().max().expect("n"));
    let at = |sigma: f64, n: u64| o.settings.iter().find(|s| s.setting == Setting::Smoothed { sigma, n, vote: Vote::Majority });
    let (mut up, mut down, mut same) = (Vec::new(), Vec::new(), Vec::new());
    for &sigma in &o.config.sigmas {
        let (Some(a), Some(b)) = (at(sigma, lo), at(sigma, hi)) else { continue };
        let cell = format!("σ = {sigma}: {:.0}% → {:.0}%", 100.0 * a.asr, 100.0 * b.asr);
        match b.successes.cmp(&a.successes) {
            std::cmp::Ordering::Greater => up.push(cell),
            std::cmp::Ordering::Less => down.push(cell),
            std::cmp::Ordering::Equal => same.push(cell),
        }
    }
    let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join("; ") };
    format!(
        "From n = {lo} to n = {hi} (always-label), ASR rose at {} σ ({}), fell at {} ({}), and stayed equal at {} ({}). The paper found larger n *lowered* ASR; {}",
        up.len(),
        list(&up),
        down.len(),
        list(&down),
        same.len(),
        list(&same),
        if up.len() > down.len() {
            "here larger n mostly *raised* it: more draws make the majority vote a better estimate of the smoothed classifier, which the attack then reads more reliably (the paper's lower ASR at larger n is not reproduced on this model)."
        } else if down.len() > up.len() {
            "here too larger n mostly lowered it."
        } else {
            "here the effect is mixed (see the intervals: most differences are within them)."
        }
    )
}

fn report(o: &Outcome) -> String {
    let c = &o.config;
    let mut s = String::new();
    let _ = writeln!(s, "# Model inversion against Robust Privacy (paper §6, Figure 3) on the 8×8 digits\n");
    let _ = writeln!(s, "Produced by `rp reproduce mia` (seed {}). Data: the UCI 8×8 handwritten digits (Alpaydin & Kaynak 1998, CC BY 4.0; 1 797 images), pixels scaled to [0, 1].\n", c.seed);
    let _ = writeln!(s, "## Set-up\n");
    let _ = writeln!(
        s,
        "- Split (seeded): {} public images (the attacker's: they fit the prior, their labels are unused), {} private training images (target and evaluator), {} held-out private images (every oracle's accuracy).",
        o.split.public.len(),
        o.split.train.len(),
        o.split.test.len()
    );
    let arch = |h: &[usize]| format!("64 → {} → 10", h.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" → "));
    let _ = writeln!(s, "- Target: MLP {} (seed {}), held-out accuracy **{:.1}%**. Evaluator: MLP {} (another architecture and seed), held-out accuracy **{:.1}%**. Both trained on the private training images, without noise augmentation (as the paper's target).", arch(&c.target.hidden), c.target.seed, 100.0 * o.target_accuracy, arch(&c.evaluator.hidden), 100.0 * o.evaluator_accuracy);
    let _ = writeln!(s, "- Prior: {}.", o.prior.describe());
    let b = &o.brep;
    let _ = writeln!(
        s,
        "- BREP-MI as in the authors' code: {} sphere points, growth ×{} when more than {:.0}% of the sphere keeps the target label, step min(r/3, {:.3}), moves kept only if they keep the label, latent points clamped to the prior's box. Scaled for digits: R₀ = {:.3} and the step cap {:.3} keep the authors' ratio to the latent's RMS spread (2 and 3 against 10 in their 100-D latent); the attack stops after **{} rounds without growth** (the authors' 1000, cut for a CPU budget) or when r exceeds R₀·1.3⁸ = {:.3}. Every round counts toward that patience (theirs counts kept moves only and can loop forever near a noisy boundary); the image recorded at a growth is the current one after that round's move.",
        b.points, b.growth, 100.0 * b.grow_share, b.max_step, b.radius, b.max_step, b.patience, b.max_radius
    );
    let _ = writeln!(s, "- Targets: all 10 classes, {} seeded starts each (a start is a prior sample the oracle labels as the target: up to {} samples). Success: the evaluator assigns the image recorded at the last radius growth to the target; an attack that never grows fails. ASR intervals: 95% Clopper–Pearson.", c.restarts, b.start_batch * b.start_batches);
    let _ = writeln!(s, "- Oracles: the base target; the smoothed target with fresh noise per query (always-label: the majority of n draws, the paper's protocol); PREDICT at α = {} (abstains unless the top class is significant; an abstention is \"not the target\" to the attacker). Beyond the paper: at each reconstruction, the smoothed target's CERTIFY radius (n₀ = {}, n = {}, α = {}) and CROWN's certified ℓ2 radius of the base network.\n", c.predict_alpha, c.certify.0, c.certify.1, c.certify.2);
    let _ = writeln!(s, "## Results\n");
    let _ = writeln!(s, "{}", table_md(&o.settings));
    let _ = writeln!(s, "![Figure 3](figure3.png)\n");
    let _ = writeln!(s, "Reconstructions: `grids/<setting>.png` (a row per target class 0–9, a column per start; green: the evaluator agrees, red: it does not, grey: none).\n");
    let _ = writeln!(s, "## Against the paper\n");
    let _ = writeln!(s, "The paper ({}): FaceNet64 on CelebA, σ in pixel units of its images. Here:", PAPER);
    if let Some(base) = o.settings.iter().find(|x| x.setting == Setting::Base) {
        let _ = writeln!(s, "- without RP the ASR is **{:.0}%** ({}/{}) at {:.1}% accuracy;", 100.0 * base.asr, base.successes, base.runs, 100.0 * base.accuracy);
    }
    for n in &c.ns {
        let row: Vec<String> = o
            .settings
            .iter()
            .filter_map(|x| match x.setting {
                Setting::Smoothed { sigma, n: m, vote: Vote::Majority } if m == *n => Some(format!("σ = {sigma}: {:.0}% at {:.0}% accuracy", 100.0 * x.asr, 100.0 * x.accuracy)),
                _ => None,
            })
            .collect();
        let _ = writeln!(s, "- always-label, n = {n}: {};", row.join(", "));
    }
    for n in &c.predict_ns {
        let row: Vec<String> = o
            .settings
            .iter()
            .filter_map(|x| match x.setting {
                Setting::Smoothed { sigma, n: m, vote: Vote::Predict { .. } } if m == *n => Some(format!("σ = {sigma}: {:.0}% at {:.0}% accuracy", 100.0 * x.asr, 100.0 * x.accuracy)),
                _ => None,
            })
            .collect();
        let _ = writeln!(s, "- PREDICT (abstaining), n = {n}: {};", row.join(", "));
    }
    let _ = writeln!(s, "- the n effect: {}\n", n_effect(o));
    let _ = writeln!(s, "## Cost\n");
    for (name, secs) in &o.phases {
        let _ = writeln!(s, "- {name}: {secs:.1} s");
    }
    let q: u64 = o.runs.iter().map(|r| r.run.queries).sum();
    let _ = writeln!(s, "- {} attack runs, {} oracle queries ({:.0} queries/s over the attacks; a smoothed query costs n forward passes).", o.runs.len(), q, queries_per_second(o));
    s
}
