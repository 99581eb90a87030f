//! The hot loops compiled twice, for AVX2 and FMA and plain, the first chosen at run time
//! where the CPU has them (as restyle's engine does).

/// Defines `fn NAME(ARGS) BODY` that runs BODY compiled with AVX2 and FMA when the CPU has
/// them. Each copy is a function of its own, its slices parameters, so the compiler knows
/// the `&mut` ones alias nothing and vectorises the loops (inlined into a closure, it did not).
macro_rules! kernel {
    ($(#[$attr:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$attr])*
        #[allow(clippy::too_many_arguments)]
        #[inline]
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                #[inline(never)]
                fn fast($($arg: $ty),*) $body
                if $crate::simd::avx2_fma() {
                    // SAFETY: the CPU has the features `fast` is compiled for.
                    return unsafe { fast($($arg),*) };
                }
            }
            #[allow(clippy::too_many_arguments)]
            #[inline(never)]
            fn plain($($arg: $ty),*) $body
            plain($($arg),*)
        }
    };
}
pub(crate) use kernel;

#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn avx2_fma() -> bool {
    // The standard library caches the answer: one atomic load.
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}
