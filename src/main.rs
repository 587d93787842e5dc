//! `rp`: the command-line interface (SPEC §3). A thin layer over the library: parse options, load the
//! model and data, run certifiers, write the contracted output formats.
mod cli;

/// mimalloc keeps freed pages for reuse: the batched bound passes allocate large temporaries every
/// round, and with glibc's allocator each was fresh mmap'd memory (page faults: 15% of `rp verify`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc v3's `mi_option_purge_delay` (its `mimalloc.h`; the Rust bindings name no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed pages committed instead of returning them to the OS a second later: the next round's
/// temporaries reuse them without page faults (ReLU splitting on MNIST-FC 256x4 prop_3_0.05: 305 000
/// minor faults → 600, 28.3 s → 26.2 s). Only set when the option reads v3's documented default
/// (1000 ms), so a renumbered enum in another mimalloc is left alone.
fn keep_freed_pages() {
    // SAFETY: plain option reads/writes of the allocator, no pointers involved
    unsafe {
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == 1000 {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        }
    }
}

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "rp", version, about = "Certify inference-time privacy (Robust Privacy) of ReLU classifiers")]
struct Cli {
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bounds on the logits of each input row over an ε-ball.
    Bounds(cli::bounds::BoundsArgs),
    /// Certified robust radius of each input row.
    Certify(cli::certify::CertifyArgs),
    /// Every method's radius per row, side by side, with a check that certified ≤ exact ≤ attack.
    Compare(cli::compare::CompareArgs),
    /// Train the paper's model (MLP, ℓ1 on non-sensitive inputs) from raw records: ONNX + model card.
    Train(cli::train::TrainArgs),
    /// Attribute-privacy analysis (inference sets, attacker intervals, radii) along a sensitive attribute.
    Ape(cli::ape::ApeArgs),
    /// Reproduce the paper's experiments.
    #[command(subcommand)]
    Reproduce(cli::reproduce::ReproduceCommand),
    /// Decide a VNN-LIB property (unsat / sat with a checked counterexample / timeout / unknown), or a
    /// whole VNN-COMP instances.csv.
    Verify(cli::verify::VerifyArgs),
    /// Generate data sets for the experiments.
    #[command(subcommand)]
    Data(cli::data::DataCommand),
    /// Deploy a model behind Robust Privacy: a smoothed, derandomized, budgeted prediction service (HTTP).
    Serve(cli::serve::ServeArgs),
}

fn main() {
    keep_freed_pages();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    // which options the user gave (not defaults), for the checks that an option applies to the method
    let given = cli::args::Given::of(&matches);
    if let Err(e) = run(cli, &given) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli, given: &cli::args::Given) -> Result<()> {
    if let Some(t) = cli.threads {
        let (t, note) = rp::limits::threads(t);
        if let Some(note) = note {
            eprintln!("{note}");
        }
        rayon::ThreadPoolBuilder::new().num_threads(t).build_global().context("setting up the thread pool")?;
    }
    match cli.command {
        Command::Bounds(a) => cli::bounds::bounds(a),
        Command::Certify(a) => cli::certify::certify(a, given),
        Command::Compare(a) => cli::compare::compare(a, given),
        Command::Data(c) => cli::data::data(c),
        Command::Verify(a) => cli::verify::verify(a, given),
        Command::Train(a) => cli::train::train(a),
        Command::Ape(a) => cli::ape::ape(a),
        Command::Reproduce(c) => cli::reproduce::reproduce(c),
        Command::Serve(a) => cli::serve::serve(a),
    }
}
