//! What `restyle_engine::allocator` promises: during a run, a large buffer
//! freed and allocated again is not mapped afresh, so its pages do not
//! fault again; afterwards the memory goes back. In its own test binary,
//! because the setting is process-wide.

/// Minor page faults of this process so far.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn minor_faults() -> i64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    usage.ru_minflt
}

/// Faults taken by allocating, writing and freeing `bytes`, twice (the
/// second time is what a run's next step does).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn second_allocation_faults(bytes: usize) -> i64 {
    let touch = || {
        let mut v = vec![0u8; bytes];
        v.iter_mut().step_by(4096).for_each(|b| *b = 1);
        std::hint::black_box(&v);
    };
    touch();
    let before = minor_faults();
    touch();
    minor_faults() - before
}

#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn a_freed_buffer_is_reused_without_faulting_its_pages_again() {
    // Over glibc's largest automatic mmap threshold (32 MiB), under the
    // size of a heap of a thread's own arena (64 MiB): the test runs on a
    // thread other than the main one, where larger buffers are always mapped.
    let bytes = 48 << 20;
    let pages = (bytes / 4096) as i64;
    // glibc's default: a buffer this large is mapped afresh each time.
    assert!(
        second_allocation_faults(bytes) > pages / 2,
        "the default allocator was expected to map the buffer again"
    );
    restyle_engine::allocator::keep_freed_memory();
    let faults = second_allocation_faults(bytes);
    assert!(faults < pages / 20, "{faults} faults for {pages} pages");
    restyle_engine::allocator::release_freed_memory();
}
