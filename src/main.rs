//! The `neurorec` command line; all behaviour lives in the library (`neurorec::cli`).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    neurorec::alloc::keep_freed_memory();
    neurorec::cli::main()
}
