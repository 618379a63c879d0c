//! How the process asks glibc's allocator to behave.
//!
//! By default glibc raises its mmap threshold each time a large block
//! that was mapped on its own is freed, and sets the trim threshold to
//! twice that. A sync frees page buffers of a megabyte or two all the
//! time, so after the first few pages memory at the top of each thread's
//! heap was no longer given back: peak RSS crept up with the length of
//! the read (about 10% more at a million records than at 100,000).
//! Fixing the mmap threshold at 4 MiB keeps page buffers in the heaps, as
//! before, and keeps the trim threshold at its default of 128 KiB.

/// The mmap threshold sfsync sets: above every page buffer it allocates.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 4 << 20;

/// The environment variables by which glibc's allocator is tuned by hand;
/// when one is set, the operator's choice stands.
const TUNING_VARIABLES: [&str; 4] = [
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
];

/// Sets the allocator up for a long read; call first thing in `main`,
/// before any thread starts. Does nothing when the operator tuned the
/// allocator through the environment, or off glibc.
pub fn tune() {
    if !should_tune(|name| std::env::var_os(name).is_some()) {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; no thread
    // allocates concurrently this early.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Whether to tune, given which variables are set.
fn should_tune(is_set: impl Fn(&str) -> bool) -> bool {
    !TUNING_VARIABLES.iter().any(|name| is_set(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_setting_wins() {
        assert!(should_tune(|_| false));
        assert!(!should_tune(|name| name == "MALLOC_TRIM_THRESHOLD_"));
        assert!(!should_tune(|name| name == "MALLOC_MMAP_THRESHOLD_"));
    }
}
