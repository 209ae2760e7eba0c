//! The patcher's schedule: which key it retargets next, to which target,
//! and how long it pauses before the next patch.
//!
//! Without a seed the schedule is fixed: the keys in turn, each to its
//! next target, no pause. With `seed=N` on the kernel command line every
//! choice comes from a generator seeded by `N` and the experiment's name,
//! so a seed varies the interleavings the executors see, and the same seed
//! gives the same choices again (`harness replay` repeats the command
//! line). Timing still differs from boot to boot: a seed fixes what the
//! kernel chooses, not when other CPUs get there.

/// The longest pause between two patches with a seed, in microseconds.
pub const MAX_PAUSE_US: u64 = 20;

/// One experiment's schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// xorshift64* state; `None`: the fixed schedule.
    state: Option<u64>,
    turn: u64,
}

/// FNV-1a over what is written to it.
struct Fnv1a(u64);

impl core::fmt::Write for Fnv1a {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        Ok(())
    }
}

/// FNV-1a of `name` as displayed: the experiment's share of the seed.
fn fnv1a(name: &dyn core::fmt::Display) -> u64 {
    let mut h = Fnv1a(0xcbf2_9ce4_8422_2325);
    // Writing to the hasher cannot fail.
    let _ = core::fmt::write(&mut h, format_args!("{name}"));
    h.0
}

impl Schedule {
    /// The schedule of experiment `name` under `seed` (`None`: fixed).
    pub fn new(seed: Option<u64>, name: &dyn core::fmt::Display) -> Schedule {
        Schedule {
            // xorshift never leaves 0: a seed that mixes to 0 takes 1.
            state: seed.map(|s| (s ^ fnv1a(name)).max(1)),
            turn: 0,
        }
    }

    /// Whether the choices are random.
    pub fn seeded(&self) -> bool {
        self.state.is_some()
    }

    fn next(&mut self) -> u64 {
        let s = self.state.as_mut().expect("only a seeded schedule draws");
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        s.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The next patch: `(key, target, pause_us)` among `keys` keys of
    /// `targets` targets each, where `current(key)` is the key's target
    /// now. The target always differs from the current one.
    pub fn next_patch(
        &mut self,
        keys: usize,
        targets: usize,
        current: impl Fn(usize) -> usize,
    ) -> (usize, usize, u64) {
        assert!(keys > 0 && targets > 1, "a key and two targets at least");
        let turn = self.turn;
        self.turn += 1;
        if !self.seeded() {
            let key = (turn % keys as u64) as usize;
            return (key, (current(key) + 1) % targets, 0);
        }
        let key = (self.next() % keys as u64) as usize;
        let step = 1 + (self.next() % (targets as u64 - 1)) as usize;
        let pause = self.next() % (MAX_PAUSE_US + 1);
        (key, (current(key) + step) % targets, pause)
    }

    /// The next batch of every key at once (`int3-queue`): each key's new
    /// target into `out[key]` for `key < keys`, and the pause. Fixed: each
    /// key to its next target; seeded: each key a step of its own.
    pub fn next_batch(
        &mut self,
        keys: usize,
        targets: usize,
        current: impl Fn(usize) -> usize,
        out: &mut [usize],
    ) -> u64 {
        assert!(keys > 0 && targets > 1 && out.len() >= keys);
        self.turn += 1;
        for (key, to) in out.iter_mut().enumerate().take(keys) {
            let step = match self.seeded() {
                true => 1 + (self.next() % (targets as u64 - 1)) as usize,
                false => 1,
            };
            *to = (current(key) + step) % targets;
        }
        match self.seeded() {
            true => self.next() % (MAX_PAUSE_US + 1),
            false => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: Option<u64>, name: &str, n: usize) -> [[usize; 3]; 64] {
        let mut cur = [0usize; 4];
        let mut s = Schedule::new(seed, &name);
        let mut out = [[0; 3]; 64];
        for o in out.iter_mut().take(n) {
            let (k, t, p) = s.next_patch(2, 4, |k| cur[k]);
            assert_ne!(t, cur[k], "a patch changes the target");
            assert!(t < 4 && k < 2 && p <= MAX_PAUSE_US);
            cur[k] = t;
            *o = [k, t, p as usize];
        }
        out
    }

    #[test]
    fn without_a_seed_the_keys_go_in_turn_to_their_next_target() {
        let r = run(None, "int3/gap/ipi/qword", 6);
        assert_eq!(
            &r[..6],
            &[
                [0, 1, 0],
                [1, 1, 0],
                [0, 2, 0],
                [1, 2, 0],
                [0, 3, 0],
                [1, 3, 0]
            ]
        );
    }

    #[test]
    fn a_seed_gives_the_same_choices_again_and_another_seed_or_name_others() {
        let a = run(Some(7), "int3/gap/ipi/qword", 64);
        assert_eq!(a, run(Some(7), "int3/gap/ipi/qword", 64));
        assert_ne!(a, run(Some(8), "int3/gap/ipi/qword", 64));
        assert_ne!(a, run(Some(7), "int3/gap/ipi/line", 64));
        assert_ne!(a, run(None, "int3/gap/ipi/qword", 64));
    }

    #[test]
    fn a_seeded_schedule_visits_every_key_target_and_pause_range() {
        let r = run(Some(0), "x", 64);
        for k in 0..2 {
            assert!(r.iter().any(|p| p[0] == k), "key {k}");
        }
        for t in 0..4 {
            assert!(r.iter().any(|p| p[1] == t), "target {t}");
        }
        assert!(r.iter().any(|p| p[2] == 0) || r.iter().any(|p| p[2] < 5));
        assert!(r.iter().any(|p| p[2] > 10), "pauses spread: {r:?}");
        // Not stuck on one key: neither key takes more than 3/4.
        let zeros = r.iter().filter(|p| p[0] == 0).count();
        assert!((16..=48).contains(&zeros), "{zeros} of 64 on key 0");
    }

    #[test]
    fn a_batch_moves_every_key_to_another_target_and_a_seed_repeats_it() {
        let batches = |seed| {
            let mut cur = [0usize; 3];
            let mut s = Schedule::new(seed, &"int3-queue/gap/ipi/qword/timer");
            let mut seen = [[0usize; 4]; 16];
            for b in seen.iter_mut() {
                let mut out = [0usize; 3];
                let pause = s.next_batch(3, 4, |k| cur[k], &mut out);
                assert!(pause <= MAX_PAUSE_US);
                for k in 0..3 {
                    assert_ne!(out[k], cur[k], "every key of a batch changes target");
                    assert!(out[k] < 4);
                }
                cur = out;
                *b = [out[0], out[1], out[2], pause as usize];
            }
            seen
        };
        assert_eq!(
            batches(None)[0],
            [1, 1, 1, 0],
            "fixed: each key to its next"
        );
        assert_eq!(batches(Some(7)), batches(Some(7)));
        assert_ne!(batches(Some(7)), batches(Some(8)));
    }
}
