//! The guest's console, line by line: the init's own lines (`lg: symbols N`, `lg: start`,
//! `lg: flip I`, `lg: end flips=N`, `lg: error`; scripts/setup-linux-guest.sh
//! writes them) and the kernel's oops lines.

/// What a console line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleLine {
    /// `lg: start key=PATH flips=N workers=N cpus=N value=V`.
    Start {
        /// The file flipped.
        key: String,
        /// Flips asked for.
        flips: u64,
        /// CPUs the guest sees.
        cpus: u64,
    },
    /// `lg: symbols N`: the init wrote the kernel's N text symbols
    /// (`/proc/kallsyms`) to the second serial port.
    Symbols(u64),
    /// `lg: flip I`: the I-th flip is done.
    Flip(u64),
    /// `lg: end flips=N`: the init is done and powers off.
    End(u64),
    /// `lg: error: ...`: the init could not do its job.
    Error(String),
    /// The kernel reports a bug: an oops, a BUG, a warning (the first line
    /// of its report).
    Oops(String),
    /// `Kernel panic - not syncing`: the kernel stops (with `panic=-1` and
    /// QEMU's `-no-reboot`, QEMU exits).
    Panic(String),
    /// Anything else.
    Other,
}

/// The kernel's words for a bug, as they begin a message.
const OOPS_WORDS: &[&str] = &[
    "Oops:",
    "BUG:",
    "kernel BUG at",
    "general protection fault",
    "invalid opcode:",
    "int3: 0000",
    "WARNING:",
    "watchdog: BUG:",
    "rcu: INFO:",
];

/// Reads one console line (without its line end).
pub fn parse_line(raw: &str) -> ConsoleLine {
    let line = raw.trim_end_matches(['\r', '\n']);
    if let Some(i) = line.find("lg: ") {
        let rest = &line[i + 4..];
        if let Some(n) = rest.strip_prefix("flip ") {
            if let Ok(n) = n.trim().parse() {
                return ConsoleLine::Flip(n);
            }
        }
        if let Some(n) = rest.strip_prefix("symbols ") {
            if let Ok(n) = n.trim().parse() {
                return ConsoleLine::Symbols(n);
            }
        }
        if let Some(n) = rest.strip_prefix("end flips=") {
            if let Ok(n) = n.trim().parse() {
                return ConsoleLine::End(n);
            }
        }
        if let Some(e) = rest.strip_prefix("error: ") {
            return ConsoleLine::Error(e.trim().to_string());
        }
        if let Some(words) = rest.strip_prefix("start ") {
            let field = |k: &str| {
                words
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix(k)?.strip_prefix('='))
            };
            let num = |k: &str| field(k).and_then(|v| v.parse().ok());
            if let (Some(key), Some(flips), Some(cpus)) = (field("key"), num("flips"), num("cpus"))
            {
                return ConsoleLine::Start {
                    key: key.to_string(),
                    flips,
                    cpus,
                };
            }
        }
    }
    let text = strip_timestamp(line);
    if text.starts_with("Kernel panic") {
        return ConsoleLine::Panic(text.to_string());
    }
    if OOPS_WORDS.iter().any(|w| text.starts_with(w)) {
        return ConsoleLine::Oops(text.to_string());
    }
    ConsoleLine::Other
}

/// A kernel line without its `[   12.345678] ` prefix.
fn strip_timestamp(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with('[') {
        if let Some(close) = t.find("] ") {
            if t[1..close]
                .trim()
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.')
            {
                return t[close + 2..].trim_start();
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inits_lines_are_read() {
        assert_eq!(parse_line("lg: flip 17\r"), ConsoleLine::Flip(17));
        assert_eq!(parse_line("lg: end flips=300"), ConsoleLine::End(300));
        assert_eq!(
            parse_line("lg: symbols 49401\r"),
            ConsoleLine::Symbols(49401)
        );
        assert_eq!(
            parse_line("lg: start key=/proc/sys/kernel/sched_schedstats flips=300 workers=1 cpus=2 value=0"),
            ConsoleLine::Start {
                key: "/proc/sys/kernel/sched_schedstats".into(),
                flips: 300,
                cpus: 2
            }
        );
        assert_eq!(
            parse_line("lg: error: /proc/sys/kernel/x is not a writable file"),
            ConsoleLine::Error("/proc/sys/kernel/x is not a writable file".into())
        );
    }

    #[test]
    fn a_flip_line_after_firmware_noise_on_the_same_line_is_still_read() {
        assert_eq!(parse_line("\x1b[2J\x1b[0mlg: flip 3"), ConsoleLine::Flip(3));
    }

    #[test]
    fn oops_lines_are_counted_with_or_without_a_timestamp() {
        assert!(matches!(
            parse_line("[   38.165688] BUG: kernel NULL pointer dereference, address: 0"),
            ConsoleLine::Oops(_)
        ));
        assert!(matches!(
            parse_line("Kernel panic - not syncing: Fatal exception"),
            ConsoleLine::Panic(_)
        ));
        assert!(matches!(
            parse_line("[    1.0] int3: 0000 [#1] PREEMPT SMP NOPTI"),
            ConsoleLine::Oops(_)
        ));
    }

    #[test]
    fn ordinary_kernel_lines_and_malformed_init_lines_are_other() {
        assert_eq!(
            parse_line("[    3.347034] reboot: Power down"),
            ConsoleLine::Other
        );
        assert_eq!(parse_line("lg: flip x"), ConsoleLine::Other);
        assert_eq!(
            parse_line("a line mentioning BUG: later"),
            ConsoleLine::Other
        );
    }
}
