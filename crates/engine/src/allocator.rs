//! How the process's allocator treats the large buffers a network step frees.
//!
//! A step allocates the same large buffers every time (activations,
//! gradients, the Winograd products' scratch) and frees them before the
//! next. glibc's allocator hands a buffer over its mmap threshold (at most
//! 32 MiB, and a 512 px step's first layers are 64 MiB each) back to the
//! kernel on `free`, and the next step's buffer of the same size is mapped
//! afresh: every page faults and is zeroed by the kernel again. That costs
//! about a tenth of a step at 512 px (`restyle-bench 512`, 2 threads: 0.96
//! against 0.86 s). Keeping freed buffers in the heap removes it, at the
//! price of memory the process holds until [`release_freed_memory`].
//!
//! Both settings are process-wide, so the run sets them ([`keep_freed_memory`])
//! and gives the memory back when it ends ([`release_freed_memory`]). On
//! other allocators they do nothing. One limit: on threads other than the
//! main one (the server's workers), glibc still maps a buffer over 64 MiB
//! afresh each time (a thread's own arena grows in heaps of at most that
//! size): at 1024 px and more, those layers still fault. Reusing the
//! network's buffers itself would lift it.

/// Lets freed buffers of any size stay in the heap for the next
/// allocation instead of going back to the kernel.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes two of glibc's tuning values; it is
            // safe to call at any time from any thread.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, i32::MAX);
                libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
            }
        });
    }
}

/// Gives the heap's free memory back to the kernel: call when a run ends,
/// so that a long-lived process (the server, Python) does not hold on to
/// the run's peak.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// [`keep_freed_memory`] for a run, and [`release_freed_memory`] when the returned guard drops,
/// however the run ends.
#[must_use = "the freed memory is given back when this guard drops"]
pub fn keep_freed_memory_during_run() -> KeptDuringRun {
    keep_freed_memory();
    KeptDuringRun(())
}

/// Gives the heap's free memory back when dropped (see [`keep_freed_memory_during_run`]).
#[derive(Debug)]
pub struct KeptDuringRun(());

impl Drop for KeptDuringRun {
    fn drop(&mut self) {
        release_freed_memory();
    }
}
