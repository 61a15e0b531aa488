//! Allocator tuning for the `neurorec` binary and the benchmarks, which use mimalloc.

/// mimalloc's `mi_option_purge_delay` (the same index in its v2 and v3 headers).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps memory that mimalloc freed committed instead of returning it to the OS.
///
/// The archive writer frees and allocates batch and page buffers of megabytes all the time;
/// returned to the OS, every reuse page-faulted and zeroed fresh pages (10 % of the CPU time
/// of a streamed run, see README, performance). Peak memory is unchanged: it is set by what
/// is alive at once. Call it at the start of `main`; harmless under another allocator.
pub fn keep_freed_memory() {
    // SAFETY: sets one integer option of the C allocator; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}
