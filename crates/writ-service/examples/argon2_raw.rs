//! Raw argon2id verifications per second on every core, for `bench/hotpaths.sh` (the
//! `argon2-raw` measurement that logins are compared with): it verifies one password against
//! one PHC string in a loop on `THREADS` threads for `SECONDS` seconds and prints the rate.
//! The bench passes a hash Writ itself stored, so the parameters (memory, passes, lanes) are
//! exactly the server's. Each thread verifies in one block array of its own, reused (the
//! argon2 crate's `hash_password_into_with_memory`, then its constant-time `Output`
//! comparison): the fastest the crate allows, faster than its `verify_password`, which
//! allocates and zeroes 19 MiB per call. Writ's verifications reuse their memory too.
//!
//!   cargo run --release -p writ-service --example argon2_raw -- PHC PASSWORD SECONDS [THREADS]
//!   (THREADS: default the number of cores)

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::PasswordVerifier;
use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Block, Params, Version};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        eprintln!("usage: argon2-raw PHC PASSWORD SECONDS [THREADS]");
        std::process::exit(2)
    };
    let (phc, password) = match (args.first(), args.get(1)) {
        (Some(h), Some(p)) => (h.as_str(), p.as_bytes()),
        _ => usage(),
    };
    let secs: f64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| usage());
    let threads = match args.get(3) {
        Some(t) => t.parse().unwrap_or_else(|_| usage()),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let hash = PasswordHash::new(phc).unwrap_or_else(|e| {
        eprintln!("argon2-raw: not a PHC string: {e}");
        std::process::exit(2)
    });
    if argon2::Argon2::default()
        .verify_password(password, &hash)
        .is_err()
    {
        eprintln!("argon2-raw: the password does not verify against the hash");
        std::process::exit(2);
    }
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        eprintln!("argon2-raw: the PHC string has no salt or hash");
        std::process::exit(2)
    };
    let params = Params::try_from(&hash).expect("parameters");
    let argon = argon2::Argon2::new(
        Algorithm::try_from(hash.algorithm.as_str()).expect("an argon2 algorithm"),
        hash.version
            .map_or(Ok(Version::default()), Version::try_from)
            .expect("an argon2 version"),
        params.clone(),
    );
    let done = AtomicU64::new(0);
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(secs);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut memory = vec![Block::default(); params.block_count()];
                let mut out = vec![0u8; expected.len()];
                while Instant::now() < until {
                    argon
                        .hash_password_into_with_memory(
                            password,
                            salt.as_ref(),
                            &mut out,
                            &mut memory[..],
                        )
                        .expect("argon2");
                    assert!(Output::new(&out).is_ok_and(|o| o == *expected));
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    println!("{rate:.1}");
}
