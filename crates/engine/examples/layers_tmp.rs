use restyle_engine::{Conv3x3, Tensor};
use std::time::Instant;
fn main() {
    restyle_engine::memory::keep_freed_memory();
    let shapes = [
        (3, 64, 512),
        (64, 64, 512),
        (64, 128, 256),
        (128, 128, 256),
        (128, 256, 128),
        (256, 256, 128),
        (256, 512, 64),
        (512, 512, 64),
        (512, 512, 32),
    ];
    let mut total = 0.0;
    for (cin, cout, s) in shapes {
        let w: Vec<f32> = (0..cin * cout * 9)
            .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.1)
            .collect();
        let conv = Conv3x3::new(cin, cout, w, vec![0.0; cout]);
        let x = Tensor::from_vec(
            cin,
            s,
            s,
            (0..cin * s * s).map(|i| (i % 17) as f32 / 17.0).collect(),
        );
        let g = Tensor::from_vec(
            cout,
            s,
            s,
            (0..cout * s * s)
                .map(|i| (i % 13) as f32 / 13.0 - 0.5)
                .collect(),
        );
        let _ = conv.forward(&x);
        let _ = conv.backward_input(&g);
        let mut tf = f64::MAX;
        let mut tb = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            let y = conv.forward(&x);
            tf = tf.min(t.elapsed().as_secs_f64());
            drop(y);
            let t = Instant::now();
            let y = conv.backward_input(&g);
            tb = tb.min(t.elapsed().as_secs_f64());
            drop(y);
        }
        let gf = 2.0 * 9.0 * (cin * cout * s * s) as f64 / 1e9;
        println!(
            "{cin:>3}->{cout:>3} @{s:>3}: fwd {:.4} s ({:.0} eff GF/s)  bwd {:.4} s ({:.0})",
            tf,
            gf / tf,
            tb,
            gf / tb
        );
        total += tf + tb;
    }
    println!("sum of one of each {:.3}", total);
}
