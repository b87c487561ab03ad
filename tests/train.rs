//! Training on a small exact fixture: the loss falls, runs are reproducible, resume is exact.

use std::path::Path;

use aec::data::Dataset;
use aec::device::DeviceKind;
use aec::format::Precision;
use aec::model::ModelConfig;
use aec::store;
use aec::train::{self, Penalties, Recipe, RunOptions, Silent, State, Stepper};

const FIXTURE: &str = "tests/fixtures/cifar-train-64.bin";

fn small_recipe(images: usize) -> Recipe {
    Recipe {
        config: ModelConfig {
            code_length: 32,
            filters: 8,
            prior: false,
        },
        batch_size: 8,
        ..Recipe::reference(images)
    }
}

fn run(out: &Path, epochs: usize, resume: bool) -> RunOptions {
    RunOptions {
        initial: None,
        epochs,
        out: out.to_path_buf(),
        precision: Precision::F32,
        resume,
        device: DeviceKind::Cpu,
    }
}

#[test]
fn a_few_hundred_steps_lower_the_loss_clearly() {
    for kind in [DeviceKind::Cpu, DeviceKind::Flex] {
        a_few_hundred_steps_on(kind);
    }
}

fn a_few_hundred_steps_on(kind: DeviceKind) {
    let data = Dataset::load(Path::new(FIXTURE)).unwrap();
    let recipe = small_recipe(data.len());
    let mut state = State::new(recipe.config, 1);
    let mut stepper = Stepper::new(Penalties::default(), kind).unwrap();
    let mut epoch_losses = Vec::new();
    for _ in 0..40 {
        let mut total = 0.0;
        for batch in data.pixels.chunks(8 * 3072) {
            total += stepper.step(&mut state, 0.0005, batch).l2;
        }
        epoch_losses.push(total);
    }
    // 320 steps. The first epoch's total loss (≈ 0.5·3072·64·0.06) must at least halve.
    let (first, last) = (epoch_losses[0], *epoch_losses.last().unwrap());
    assert!(
        last < 0.5 * first,
        "{kind}: loss went from {first} to {last}"
    );
    assert!(epoch_losses.iter().all(|l| l.is_finite()));
}

#[test]
fn same_seed_same_model_bytes_and_resume_is_exact() {
    let data = Dataset::load(Path::new(FIXTURE)).unwrap();
    let recipe = Recipe {
        shuffle: true,
        l1: 0.001,
        ..small_recipe(data.len())
    };
    let dir = tempfile::tempdir().unwrap();
    let a = train::train(
        &data,
        Some(&data),
        &recipe,
        &run(&dir.path().join("a.safetensors"), 2, false),
        &mut Silent,
    )
    .unwrap();
    let b = train::train(
        &data,
        None,
        &recipe,
        &run(&dir.path().join("b.safetensors"), 2, false),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(a.id, b.id, "two runs with one seed differ");
    let bytes = std::fs::read(dir.path().join("a.safetensors")).unwrap();
    assert_eq!(
        store::ModelId::of(&bytes),
        a.id,
        "the id is the file's SHA-256"
    );
    assert_eq!(a.epochs.len(), 2);
    assert!(a.epochs[0].eval_psnr.is_some() && a.epochs[1].l1 > 0.0);

    // A run stopped after one epoch and resumed gives the same model as one straight run.
    let c_out = dir.path().join("c.safetensors");
    train::train(&data, None, &recipe, &run(&c_out, 1, false), &mut Silent).unwrap();
    let c = train::train(&data, None, &recipe, &run(&c_out, 2, true), &mut Silent).unwrap();
    assert_eq!(c.id, a.id, "resumed run differs");
    assert_eq!(
        c.epochs.len(),
        2,
        "the log keeps the first epoch across the resume"
    );
    let log = std::fs::read_to_string(dir.path().join("c.safetensors.csv")).unwrap();
    assert_eq!(log.lines().count(), 3);

    // A different seed gives a different model; a resume with other settings is refused.
    let other = Recipe {
        seed: 5,
        ..recipe.clone()
    };
    let d = train::train(
        &data,
        None,
        &other,
        &run(&dir.path().join("d.safetensors"), 1, false),
        &mut Silent,
    )
    .unwrap();
    assert_ne!(d.id, a.id);
    let err = train::train(&data, None, &other, &run(&c_out, 3, true), &mut Silent).unwrap_err();
    assert!(err.to_string().contains("different settings"), "{err}");
}

#[test]
fn initial_weights_replace_the_seeded_draw() {
    let data = Dataset::load(Path::new(FIXTURE)).unwrap();
    let recipe = small_recipe(data.len());
    let dir = tempfile::tempdir().unwrap();
    // Seed 5's Glorot draw, given as initial weights to a seed-0 recipe, trains exactly like a
    // seed-5 recipe (file order, so the seed picks nothing else).
    let start = aec::model::Weights::glorot(recipe.config, 5);
    let with_init = RunOptions {
        initial: Some(start.clone()),
        ..run(&dir.path().join("init.safetensors"), 1, false)
    };
    let a = train::train(&data, None, &recipe, &with_init, &mut Silent).unwrap();
    let seed5 = Recipe {
        seed: 5,
        ..recipe.clone()
    };
    let b = train::train(
        &data,
        None,
        &seed5,
        &run(&dir.path().join("seed5.safetensors"), 1, false),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(
        a.id, b.id,
        "a run from seed 5's weights differs from a seed-5 run"
    );

    // Zero epochs write the initial weights themselves.
    let zero = RunOptions {
        initial: Some(start.clone()),
        ..run(&dir.path().join("zero.safetensors"), 0, false)
    };
    train::train(&data, None, &recipe, &zero, &mut Silent).unwrap();
    let written = store::load_model(&dir.path().join("zero.safetensors")).unwrap();
    assert_eq!(written.weights, start);

    // Weights of another architecture are refused, naming both.
    let other = aec::model::Weights::glorot(
        ModelConfig {
            code_length: 16,
            filters: 8,
            prior: false,
        },
        0,
    );
    let mismatched = RunOptions {
        initial: Some(other),
        ..run(&dir.path().join("bad.safetensors"), 1, false)
    };
    let err = train::train(&data, None, &recipe, &mismatched, &mut Silent).unwrap_err();
    assert!(
        err.to_string().contains("code length 16") && err.to_string().contains("32"),
        "{err}"
    );
}
