//! The boot id: one number drawn at each boot and carried by every record
//! of that boot as its first field, `boot_id=` and 8 lower-case hex digits.
//!
//! A record's CRC proves it intact, not that it belongs where it stands: a
//! record of another boot (two captures in one file, a log appended to, a
//! line pasted from elsewhere) has a valid CRC too, and records such as
//! `cpu cpu=1 apic=1 state=up` are byte for byte the same in every boot.
//! With the boot id, a reader believes a record only in the boot whose id
//! it carries. Logs of kernels from before the field have none, and are
//! read as before (`harness`'s `Transcript::disbelieve_foreign`).

/// The field's key.
pub const KEY: &str = "boot_id";

/// Folds the samples a kernel could gather at boot (time stamp counter,
/// real-time clock, a hardware random number where there is one) into an
/// id. Never 0, so that 0 can mean "not drawn yet".
pub fn mix(samples: &[u64]) -> u32 {
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
    for &s in samples {
        h ^= s;
        // splitmix64's finaliser: every input bit moves every output bit.
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^= h >> 31;
    }
    match (h ^ (h >> 32)) as u32 {
        0 => 1,
        id => id,
    }
}

/// Reads a `boot_id` value: exactly 8 lower-case hex digits, as written.
pub fn parse(v: &str) -> Option<u32> {
    (v.len() == 8
        && v.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| u32::from_str_radix(v, 16).ok())
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_when_any_sample_differs_and_are_never_zero() {
        let base = [0x1234_5678_9abc, 0, 0x0026_1203_1745_0700];
        let id = mix(&base);
        assert_ne!(id, 0);
        assert_eq!(mix(&base), id, "the same samples, the same id");
        // One tick of the TSC, one second of the clock, one random bit.
        for (i, delta) in [(0, 1), (2, 1), (1, 1)] {
            let mut s = base;
            s[i] ^= delta;
            assert_ne!(mix(&s), id, "sample {i} changed by {delta}");
        }
        assert_ne!(mix(&[]), 0);
    }

    #[test]
    fn nearby_tsc_values_spread_over_the_ids() {
        // Boots a few microseconds apart must not collide: 4096 TSC values
        // in a row give 4096 different ids.
        let mut ids: [u32; 4096] = [0; 4096];
        for (i, id) in ids.iter_mut().enumerate() {
            *id = mix(&[2_600_000_000 + i as u64, 0, 0]);
        }
        ids.sort_unstable();
        assert!(ids.windows(2).all(|w| w[0] != w[1]));
    }

    #[test]
    fn parse_takes_exactly_what_the_writer_writes() {
        assert_eq!(parse("0badf00d"), Some(0x0bad_f00d));
        assert_eq!(parse("00000001"), Some(1));
        for bad in [
            "",
            "badf00d",
            "0BADF00D",
            "0badf00dd",
            "0x badf0",
            "0badf0 d",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
