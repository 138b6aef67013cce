//! The worker's system-call allowlist (seccomp-bpf, Linux): what a worker does once locked
//! down is read a job from stdin, compute, allocate memory and write the answer to stdout, so
//! that is all the kernel lets it do. A call outside the list kills the worker (`SIGSYS`): the
//! run fails, the server starts a fresh worker, and nothing that got that far stays running.
//! So even JavaScript that broke out of QuickJS could not open a file or a socket (nor close a
//! descriptor to reuse its number), start a program, or signal another process.

use std::collections::BTreeMap;

use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};

/// The calls a worker may make without conditions.
const ALLOWED: &[libc::c_long] = &[
    // The job and its answer on the pipes the server set up.
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    // Memory.
    libc::SYS_brk,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_madvise,
    // Time (for the budget; normally answered without a call), randomness (hash maps).
    libc::SYS_clock_gettime,
    libc::SYS_gettimeofday,
    libc::SYS_getrandom,
    // Locks, signals around a crash, and the end.
    libc::SYS_futex,
    libc::SYS_sched_yield,
    libc::SYS_rt_sigreturn,
    libc::SYS_rt_sigprocmask,
    libc::SYS_sigaltstack,
    libc::SYS_exit,
    libc::SYS_exit_group,
];

fn err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("seccomp: {e}"))
}

/// Installs the allowlist on this process (after `no_new_privs`, which it requires).
pub fn install() -> std::io::Result<()> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(err)?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        ALLOWED.iter().map(|&nr| (nr, Vec::new())).collect();
    // Memory may change protection, never to executable.
    let no_exec = SeccompCondition::new(
        2,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::MaskedEq(libc::PROT_EXEC as u64),
        0,
    )
    .map_err(err)?;
    rules.insert(
        libc::SYS_mprotect,
        vec![SeccompRule::new(vec![no_exec]).map_err(err)?],
    );
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        arch,
    )
    .map_err(err)?;
    let program: seccompiler::BpfProgram = filter.try_into().map_err(err)?;
    seccompiler::apply_filter(&program).map_err(err)
}
