//! `Vgg19::step_memory_bytes` against the bytes a real pass allocates,
//! counted by a global allocator. (A test binary of its own: the counter
//! sees every thread.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use restyle_engine::Tensor;
use restyle_vgg::{Layer, Vgg19};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator with the caller's own
// arguments; the counters only add up sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        // SAFETY: the caller's contract for `alloc`, passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: `ptr` came from `alloc` above, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak bytes allocated by `f` above what was allocated before it.
fn measure(f: impl FnOnce()) -> usize {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    f();
    PEAK.load(Ordering::SeqCst) - base
}

#[test]
fn the_model_matches_measured_allocations() {
    let taps: Vec<Layer> = [
        "relu1_1", "relu2_1", "relu3_1", "relu4_1", "conv4_2", "relu5_1",
    ]
    .iter()
    .map(|n| n.parse().unwrap())
    .collect();
    let net = Vgg19::embedded_up_to("relu5_1".parse().unwrap());
    for (h, w) in [(96, 128), (171, 256), (256, 200)] {
        let image = Tensor::from_vec(3, h, w, vec![0.4; 3 * h * w]);
        // The callback allocates a gradient the size of the activation,
        // plus another of the same size, as restyle's losses do.
        let measured = measure(|| {
            let _ = net.value_and_grad(&image, &taps, |_, x| {
                let scratch = Tensor::zeros(x.channels(), x.height(), x.width());
                let grad =
                    Tensor::from_vec(x.channels(), x.height(), x.width(), vec![1e-3; x.len()]);
                drop(scratch);
                (0.0, grad)
            });
        });
        let modelled = Vgg19::step_memory_bytes(h, w, &taps, &|_, (c, h, w)| 2 * c * h * w * 4);
        let ratio = modelled as f64 / measured as f64;
        assert!(
            (0.95..1.05).contains(&ratio),
            "{h}x{w}: modelled {modelled}, measured {measured}"
        );

        let measured = measure(|| drop(net.features(&image, &taps)));
        let modelled = Vgg19::features_memory_bytes(h, w, &taps);
        let ratio = modelled as f64 / measured as f64;
        assert!(
            (0.95..1.05).contains(&ratio),
            "features at {h}x{w}: modelled {modelled}, measured {measured}"
        );
    }
    let built = measure(|| {
        drop(std::hint::black_box(Vgg19::embedded_up_to(
            "relu5_1".parse().unwrap(),
        )))
    });
    let modelled = Vgg19::weight_memory_bytes("relu5_1".parse().unwrap());
    assert!(
        built >= modelled && (built as f64) < 2.0 * modelled as f64,
        "weights: built {built}, modelled {modelled}"
    );
}
