//! Both optimisers on problems whose minimum is known.

use restyle_optim::{Adam, Convergence, Lbfgs, Objective, Optimizer};

/// The n-dimensional Rosenbrock function, minimum 0 at (1, ..., 1).
fn rosenbrock(x: &[f32], g: &mut [f32]) -> f64 {
    let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let mut f = 0.0;
    g.iter_mut().for_each(|v| *v = 0.0);
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = 1.0 - x[i];
        f += 100.0 * a * a + b * b;
        g[i] += (-400.0 * x[i] * a - 2.0 * b) as f32;
        g[i + 1] += (200.0 * a) as f32;
    }
    f
}

/// An ill-conditioned quadratic: sum of i * (x_i - i/10)^2, i = 1..=n.
fn quadratic(x: &[f32], g: &mut [f32]) -> f64 {
    let mut f = 0.0;
    for (i, (xi, gi)) in x.iter().zip(g.iter_mut()).enumerate() {
        let k = (i + 1) as f64;
        let d = *xi as f64 - k / 10.0;
        f += k * d * d;
        *gi = (2.0 * k * d) as f32;
    }
    f
}

fn run(
    optimizer: &mut dyn Optimizer,
    x: &mut [f32],
    f: &mut dyn Objective,
    steps: usize,
) -> (f64, usize) {
    let mut evaluations = 0;
    for _ in 0..steps {
        let report = optimizer.step(x, f);
        evaluations += report.evaluations;
        if report.converged {
            break;
        }
    }
    let mut g = vec![0.0; x.len()];
    (f.evaluate(x, &mut g), evaluations)
}

#[test]
fn lbfgs_solves_rosenbrock_2d_from_the_classic_start() {
    let mut x = [-1.2f32, 1.0];
    let (value, evaluations) = run(&mut Lbfgs::new(10), &mut x, &mut rosenbrock, 200);
    assert!(value < 1e-8, "f = {value}, x = {x:?}");
    assert!(
        (x[0] - 1.0).abs() < 1e-3 && (x[1] - 1.0).abs() < 1e-3,
        "{x:?}"
    );
    assert!(evaluations < 150, "{evaluations} evaluations");
}

#[test]
fn lbfgs_solves_rosenbrock_in_20_dimensions() {
    let mut x = vec![0.0f32; 20];
    let (value, _) = run(&mut Lbfgs::new(10), &mut x, &mut rosenbrock, 500);
    assert!(value < 1e-6, "f = {value}");
    assert!(x.iter().all(|v| (v - 1.0).abs() < 1e-2), "{x:?}");
}

#[test]
fn lbfgs_beats_gradient_descent_on_an_ill_conditioned_quadratic() {
    // Condition number 100: L-BFGS with a modest history gets there in a few
    // dozen steps, where steepest descent would need thousands.
    let mut x = vec![0.0f32; 100];
    let mut lbfgs = Lbfgs::new(10);
    let mut evaluations = 0;
    let mut g = vec![0.0; 100];
    while quadratic(&x, &mut g) >= 1e-6 {
        evaluations += lbfgs.step(&mut x, &mut quadratic).evaluations;
        assert!(
            evaluations <= 70,
            "{evaluations} evaluations and still not there"
        );
    }
}

#[test]
fn lbfgs_stops_at_a_stationary_point() {
    let mut x = [1.0f32, 1.0];
    let report = Lbfgs::new(5).step(&mut x, &mut rosenbrock);
    assert!(report.converged);
    assert_eq!(x, [1.0, 1.0]);
}

#[test]
fn lbfgs_reports_the_value_where_each_step_started() {
    let mut x = [-1.2f32, 1.0];
    let mut g = [0.0; 2];
    let f0 = rosenbrock(&x, &mut g);
    let mut lbfgs = Lbfgs::new(5);
    let first = lbfgs.step(&mut x, &mut rosenbrock);
    assert_eq!(first.value, f0);
    let f1 = rosenbrock(&x, &mut g);
    assert!(f1 < f0);
    assert_eq!(lbfgs.step(&mut x, &mut rosenbrock).value, f1);
}

#[test]
fn adam_solves_rosenbrock_2d() {
    let mut x = [-1.2f32, 1.0];
    let (value, _) = run(&mut Adam::new(0.02), &mut x, &mut rosenbrock, 20_000);
    assert!(value < 1e-4, "f = {value}, x = {x:?}");
}

#[test]
fn adam_solves_the_quadratic() {
    let mut x = vec![0.0f32; 100];
    let (value, _) = run(&mut Adam::new(0.05), &mut x, &mut quadratic, 2_000);
    assert!(value < 1e-4, "f = {value}");
}

#[test]
fn adam_first_step_moves_each_coordinate_by_the_learning_rate() {
    // With bias correction, Adam's first step is lr * sign(gradient).
    let mut x = [0.0f32, 0.0, 0.0];
    let mut f = |x: &[f32], g: &mut [f32]| {
        g.copy_from_slice(&[3.0, -0.001, 0.0]);
        x.iter().sum::<f32>() as f64
    };
    Adam::new(0.1).step(&mut x, &mut f);
    assert!(
        (x[0] + 0.1).abs() < 1e-6 && (x[1] - 0.1).abs() < 1e-4 && x[2] == 0.0,
        "{x:?}"
    );
}

#[test]
fn adam_clamps_to_the_box() {
    let mut x = [0.99f32, 0.01];
    let mut f = |_: &[f32], g: &mut [f32]| {
        g.copy_from_slice(&[-1.0, 1.0]);
        0.0
    };
    let mut adam = Adam::new(0.5).with_clamp(0.0, 1.0);
    for _ in 0..3 {
        adam.step(&mut x, &mut f);
    }
    assert_eq!(x, [1.0, 0.0]);
}

/// A double well in every coordinate, sum (x_i^2 - 1)^2: from near 0 the
/// curvature is negative, where a sufficient-decrease search alone stalls.
fn double_well(x: &[f32], g: &mut [f32]) -> f64 {
    let mut f = 0.0;
    for (xi, gi) in x.iter().zip(g.iter_mut()) {
        let (x, a) = (*xi as f64, (*xi as f64).powi(2) - 1.0);
        f += a * a;
        *gi = (4.0 * x * a) as f32;
    }
    f
}

#[test]
fn lbfgs_leaves_regions_of_negative_curvature() {
    let mut x: Vec<f32> = (0..50).map(|i| 0.01 + 0.001 * i as f32).collect();
    let (value, evaluations) = run(&mut Lbfgs::new(10), &mut x, &mut double_well, 60);
    assert!(value < 1e-8, "f = {value}");
    assert!(x.iter().all(|v| (v - 1.0).abs() < 1e-3), "{x:?}");
    assert!(evaluations < 150, "{evaluations} evaluations");
}

/// Steps `optimizer` until `stop` says the value stopped falling (or 1000
/// steps); returns the steps taken and every value seen.
fn run_until_converged(
    optimizer: &mut dyn Optimizer,
    x: &mut [f32],
    f: &mut dyn Objective,
    stop: &mut Convergence,
) -> (usize, Vec<f64>) {
    let mut values = Vec::new();
    for step in 1..=1000 {
        let report = optimizer.step(x, f);
        stop.record(report.value);
        values.push(report.value);
        if stop.converged() || report.converged {
            return (step, values);
        }
    }
    (1000, values)
}

#[test]
fn the_stopping_rule_ends_lbfgs_near_a_known_minimum() {
    // 1 + the quadratic: the minimum is 1, so relative decreases are those
    // of a loss that levels off at a known, non-zero floor (as style losses do).
    let mut f = |x: &[f32], g: &mut [f32]| 1.0 + quadratic(x, g);
    let mut x = vec![0.0f32; 100];
    let mut stop = Convergence::new(5, 1e-4);
    let (steps, values) = run_until_converged(&mut Lbfgs::new(10), &mut x, &mut f, &mut stop);
    let mut g = vec![0.0; 100];
    let end = f(&x, &mut g);
    assert!(steps < 1000, "never stopped: {values:?}");
    // Stopped near the minimum (where the value falls no more)...
    assert!(end - 1.0 < 1e-3, "stopped at {end} after {steps} steps");
    // ...at the first window that fell by less than the tolerance: the
    // window ending one step earlier still fell by more.
    let (n, w) = (values.len(), stop.window());
    let earlier = (values[n - 2 - w] - values[n - 2]) / values[n - 2 - w];
    assert!(earlier >= 1e-4, "{earlier}: {values:?}");
}

#[test]
fn the_stopping_rule_waits_while_the_value_still_falls() {
    // From far away the value falls by far more than 1e-4 a window: the rule
    // must not stop Adam's slow, steady descent before it nears the minimum.
    let mut f = |x: &[f32], g: &mut [f32]| 1.0 + quadratic(x, g);
    let mut x = vec![0.0f32; 100];
    let mut stop = Convergence::new(10, 1e-4);
    let (steps, values) = run_until_converged(&mut Adam::new(0.01), &mut x, &mut f, &mut stop);
    let mut g = vec![0.0; 100];
    let end = f(&x, &mut g);
    assert!(steps > 50, "stopped after {steps} steps at {end}");
    assert!(
        end - 1.0 < 0.05 * (values[0] - 1.0),
        "stopped at {end}, started at {}",
        values[0]
    );
}

#[test]
fn bounded_lbfgs_finds_the_minimum_on_the_box() {
    // The quadratic's minimum is x_i = i/10 for i = 1..=20: 1..=10 inside
    // 0..1, 11..=20 above it. On the box the minimum is x_i = min(i/10, 1)
    // (the function is separable), and every iterate must stay in the box.
    let mut x = vec![0.5f32; 20];
    let mut lbfgs = Lbfgs::new(10).with_bounds(0.0, 1.0);
    let mut outside = 0;
    let mut f = |x: &[f32], g: &mut [f32]| {
        outside += x.iter().filter(|v| !(0.0..=1.0).contains(*v)).count();
        quadratic(x, g)
    };
    for _ in 0..200 {
        if lbfgs.step(&mut x, &mut f).converged {
            break;
        }
    }
    assert_eq!(outside, 0, "evaluated outside the box");
    for (i, &v) in x.iter().enumerate() {
        let want = ((i + 1) as f32 / 10.0).min(1.0);
        assert!((v - want).abs() < 1e-3, "x[{i}] = {v}, want {want}");
    }
}

#[test]
fn bounded_lbfgs_moves_coupled_values_to_a_corner() {
    // (x - 2)^2 + 10 (y - x)^2 on 0..1 x 0..1: unconstrained minimum (2, 2),
    // on the box (1, 1), reached with y free and x held at its bound.
    let mut f = |x: &[f32], g: &mut [f32]| {
        let (a, b) = (x[0] as f64, x[1] as f64);
        g[0] = (2.0 * (a - 2.0) - 20.0 * (b - a)) as f32;
        g[1] = (20.0 * (b - a)) as f32;
        (a - 2.0).powi(2) + 10.0 * (b - a).powi(2)
    };
    let mut x = [0.1f32, 0.9];
    let mut lbfgs = Lbfgs::new(5).with_bounds(0.0, 1.0);
    let (value, _) = run(&mut lbfgs, &mut x, &mut f, 100);
    assert!(
        (x[0] - 1.0).abs() < 1e-4 && (x[1] - 1.0).abs() < 1e-3,
        "{x:?}"
    );
    assert!((value - 1.0).abs() < 1e-5, "{value}");
}

#[test]
fn bounded_lbfgs_starts_by_clamping_into_the_box() {
    let mut x = [-3.0f32, 5.0];
    let mut first = None;
    let mut f = |x: &[f32], g: &mut [f32]| {
        first.get_or_insert([x[0], x[1]]);
        quadratic(x, g)
    };
    Lbfgs::new(5).with_bounds(0.0, 1.0).step(&mut x, &mut f);
    assert_eq!(first, Some([0.0, 1.0]));
}
