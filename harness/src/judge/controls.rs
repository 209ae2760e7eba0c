//! The kernel's negative controls, as `docs/cmdline.md` defines them, and
//! the names of x86 exception vectors.
//!
//! A negative control makes the kernel fail on purpose, at a place the
//! harness knows in advance; if the harness does not see exactly that
//! failure, the harness is blind. The table here is checked against the
//! document by a test, so that the contract is written once for people and
//! cannot drift from the code.

/// Which CPU a control fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlCpu {
    /// The bootstrap processor (CPU 0).
    Bsp,
    /// CPU 1, or the BSP when it is alone.
    FirstApOrBsp,
}

impl ControlCpu {
    /// The CPU index, given how many CPUs the machine has (if known).
    pub fn resolve(self, cpus: Option<u32>) -> u32 {
        match self {
            ControlCpu::Bsp => 0,
            ControlCpu::FirstApOrBsp => match cpus {
                Some(0 | 1) => 0,
                _ => 1,
            },
        }
    }
}

/// What a control is expected to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlEffect {
    /// An exception with `vector` on `cpu` with RIP at the ELF symbol.
    Fault {
        /// Exception vector.
        vector: u8,
        /// Where it happens.
        cpu: ControlCpu,
        /// The kernel symbol whose address must be the fault's RIP.
        symbol: &'static str,
    },
    /// The kernel spins forever: the harness must time out.
    Hang,
}

/// One negative control (`control=NAME` on the kernel command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Control {
    /// The name after `control=`.
    pub name: &'static str,
    /// What it does.
    pub effect: ControlEffect,
}

/// Every control the kernel knows (`docs/cmdline.md`).
pub const CONTROLS: &[Control] = &[
    Control {
        name: "ud2-ap",
        effect: ControlEffect::Fault {
            vector: 6,
            cpu: ControlCpu::FirstApOrBsp,
            symbol: "control_ud2",
        },
    },
    Control {
        name: "write-text",
        effect: ControlEffect::Fault {
            vector: 14,
            cpu: ControlCpu::Bsp,
            symbol: "control_write_text",
        },
    },
    Control {
        name: "exec-data",
        effect: ControlEffect::Fault {
            vector: 14,
            cpu: ControlCpu::Bsp,
            symbol: "control_exec_data",
        },
    },
    Control {
        name: "hang",
        effect: ControlEffect::Hang,
    },
];

/// Looks a control up by name.
pub fn find(name: &str) -> Option<&'static Control> {
    CONTROLS.iter().find(|c| c.name == name)
}

/// The names, for error messages.
pub fn names() -> String {
    CONTROLS
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The mnemonic of an exception vector (`UD`, `PF`, ...), if architectural.
pub fn vector_name(vector: u64) -> Option<&'static str> {
    Some(match vector {
        0 => "DE",
        1 => "DB",
        2 => "NMI",
        3 => "BP",
        4 => "OF",
        5 => "BR",
        6 => "UD",
        7 => "NM",
        8 => "DF",
        9 => "CSO",
        10 => "TS",
        11 => "NP",
        12 => "SS",
        13 => "GP",
        14 => "PF",
        16 => "MF",
        17 => "AC",
        18 => "MC",
        19 => "XM",
        20 => "VE",
        21 => "CP",
        28 => "HV",
        29 => "VC",
        30 => "SX",
        _ => return None,
    })
}

/// `#UD` for 6, `vector 42` for a vector without a mnemonic.
pub fn vector_label(vector: u64) -> String {
    match vector_name(vector) {
        Some(n) => format!("#{n}"),
        None => format!("vector {vector}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of the control table in `docs/cmdline.md`: (name, text).
    fn documented() -> Vec<(String, String)> {
        let doc = include_str!("../../../docs/cmdline.md");
        doc.lines()
            .filter_map(|l| {
                let l = l.trim();
                let rest = l.strip_prefix("| `control=")?;
                let (name, text) = rest.split_once('`')?;
                Some((name.to_string(), text.to_string()))
            })
            .collect()
    }

    #[test]
    fn the_control_table_matches_docs_cmdline_md() {
        let doc = documented();
        let doc_names: Vec<&str> = doc.iter().map(|(n, _)| n.as_str()).collect();
        let ours: Vec<&str> = CONTROLS.iter().map(|c| c.name).collect();
        assert_eq!(
            ours, doc_names,
            "wanted the controls of docs/cmdline.md, in its order"
        );
        for (name, text) in &doc {
            let c = find(name).unwrap();
            match c.effect {
                ControlEffect::Fault { vector, symbol, .. } => {
                    assert!(
                        text.contains(&format!("`{symbol}`")),
                        "control {name}: wanted symbol `{symbol}` in the doc row {text:?}"
                    );
                    assert!(
                        text.contains(&format!("vector {vector}")),
                        "control {name}: wanted `vector {vector}` in the doc row {text:?}"
                    );
                }
                ControlEffect::Hang => assert!(
                    text.contains("time out"),
                    "control {name}: wanted a hang (\"time out\") in the doc row {text:?}"
                ),
            }
        }
    }

    #[test]
    fn ud2_ap_fires_on_the_bsp_when_it_is_alone() {
        let ControlEffect::Fault { cpu, .. } = find("ud2-ap").unwrap().effect else {
            panic!("ud2-ap must be a fault control");
        };
        assert_eq!(cpu.resolve(Some(1)), 0, "smp 1: wanted cpu 0");
        assert_eq!(cpu.resolve(Some(4)), 1, "smp 4: wanted cpu 1");
    }
}
