//! A hook worker process on its own (the `writ` binary's `hook-worker` mode does the same): for
//! deployments that point `WRIT_HOOK_WORKER` at a smaller program, and for this crate's tests.

fn main() -> std::process::ExitCode {
    writ_hooks::worker::main()
}
