//! Giving freed memory back to the operating system after a model unloads.
//!
//! glibc's allocator keeps what a program frees in its arenas for reuse; a model's weights
//! and buffers (hundreds of MB, freed when it unloads) then stay in the process's resident
//! size although nothing uses them. `malloc_trim(0)` returns the free pages of every arena.
//! Other allocators (musl, macOS) return large blocks themselves: nothing to do there.
//!
//! The one module besides the SIMD kernels and the mmap of safetensors that may use
//! `unsafe`: a call into the C library, with no arguments to get wrong.
#![allow(unsafe_code)]

/// Returns the allocator's free memory to the OS. Call it after something big was freed.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only walks glibc's own arenas under their locks; it is safe to
    // call from any thread at any time, and 0 asks it to keep no padding.
    unsafe {
        libc::malloc_trim(0);
    }
}
