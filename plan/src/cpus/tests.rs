use super::*;
use core::sync::atomic::Ordering::Relaxed;

extern crate std;
use std::vec::Vec;

fn enabled(ids: impl IntoIterator<Item = u32>) -> Vec<MadtCpu> {
    ids.into_iter()
        .map(|apic_id| MadtCpu {
            apic_id,
            enabled: true,
            online_capable: false,
        })
        .collect()
}

fn run(
    entries: &[MadtCpu],
    bsp: u32,
    x2apic: bool,
    limit: Option<usize>,
    capacity: usize,
) -> (Census, Vec<(u32, Fate)>) {
    let mut fates = Vec::new();
    let c = select(
        || entries.iter().copied(),
        bsp,
        x2apic,
        limit,
        capacity,
        |e, f| fates.push((e.apic_id, f)),
    );
    (c, fates)
}

fn started(fates: &[(u32, Fate)]) -> Vec<u32> {
    fates
        .iter()
        .filter(|(_, f)| *f == Fate::Start)
        .map(|(id, _)| *id)
        .collect()
}

#[test]
fn a_cpu_set_holds_cpus_past_the_first_word() {
    let s = CpuSet::new();
    for c in [0, 63, 64, 200, MAX_CPUS - 1] {
        assert!(s.insert(c, Relaxed), "cpu {c} was not in the empty set");
    }
    assert!(!s.insert(200, Relaxed), "cpu 200 was inserted twice");
    assert_eq!(s.count(Relaxed), 5);
    assert_eq!(
        s.iter(Relaxed).collect::<Vec<_>>(),
        [0, 63, 64, 200, MAX_CPUS - 1]
    );
    assert!(s.contains(64, Relaxed) && !s.contains(65, Relaxed));
    assert!(s.remove(0, Relaxed) && !s.remove(0, Relaxed));
    assert_eq!(s.first(Relaxed), Some(63));
    s.clear(Relaxed);
    assert_eq!((s.count(Relaxed), s.first(Relaxed)), (0, None));
}

#[test]
fn every_enabled_cpu_of_a_255_cpu_xapic_machine_is_started() {
    let (c, fates) = run(&enabled(0..255), 0, false, None, MAX_CPUS);
    assert_eq!(c.listed, 255);
    assert_eq!(c.chosen, 255, "wanted the BSP and 254 APs, got {c:?}");
    assert_eq!(started(&fates), (1..255).collect::<Vec<_>>());
}

#[test]
fn more_than_64_cpus_are_all_started() {
    let (c, _) = run(&enabled(0..128), 0, false, None, MAX_CPUS);
    assert_eq!((c.listed, c.chosen), (128, 128), "{c:?}");
}

#[test]
fn xapic_mode_cannot_address_apic_id_255_and_says_so() {
    let (c, fates) = run(&enabled([0, 1, 255, 256, 2]), 0, false, None, MAX_CPUS);
    assert_eq!(c.listed, 5);
    assert_eq!(c.chosen, 3, "BSP, 1 and 2: {c:?}");
    assert_eq!(c.unaddressable, 2);
    assert_eq!(started(&fates), [1, 2]);
    assert!(fates.contains(&(255, Fate::Unaddressable)));
}

#[test]
fn x2apic_mode_starts_apic_ids_past_255() {
    let (c, fates) = run(&enabled((0..300).chain([4000])), 0, true, None, MAX_CPUS);
    assert_eq!((c.listed, c.chosen, c.unaddressable), (301, 301, 0));
    assert!(started(&fates).contains(&4000));
}

#[test]
fn a_command_line_limit_keeps_the_bsp_and_the_first_aps() {
    let (c, fates) = run(&enabled([3, 0, 1, 2]), 1, false, Some(2), MAX_CPUS);
    assert_eq!(c.listed, 4);
    assert_eq!(c.chosen, 2);
    assert_eq!(c.over_limit, 2);
    assert_eq!(started(&fates), [3]);
    assert!(fates.contains(&(1, Fate::Bsp)));
}

#[test]
fn a_limit_of_zero_or_one_still_runs_the_bsp_alone() {
    for limit in [0, 1] {
        let (c, fates) = run(&enabled(0..4), 0, false, Some(limit), MAX_CPUS);
        assert_eq!((c.chosen, c.over_limit), (1, 3), "cpus={limit}: {c:?}");
        assert!(started(&fates).is_empty());
    }
}

#[test]
fn cpus_beyond_the_capacity_are_counted_not_dropped() {
    let (c, fates) = run(&enabled(0..10), 0, true, None, 4);
    assert_eq!((c.listed, c.chosen, c.over_capacity), (10, 4, 6), "{c:?}");
    assert_eq!(started(&fates), [1, 2, 3]);
    let (c, _) = run(&enabled(0..10), 0, true, Some(8), 4);
    assert_eq!(
        (c.over_limit, c.over_capacity),
        (0, 6),
        "a limit above the capacity does not hide it: {c:?}"
    );
}

#[test]
fn disabled_entries_are_not_started_and_online_capable_ones_are_counted() {
    let mut e = enabled(0..2);
    e.push(MadtCpu {
        apic_id: 2,
        enabled: false,
        online_capable: true,
    });
    e.push(MadtCpu {
        apic_id: 3,
        enabled: false,
        online_capable: false,
    });
    let (c, fates) = run(&e, 0, false, None, MAX_CPUS);
    assert_eq!((c.listed, c.online_capable, c.chosen), (2, 1, 2), "{c:?}");
    assert_eq!(started(&fates), [1]);
}

#[test]
fn a_repeated_apic_id_is_started_once() {
    let mut e = enabled([0, 1, 1, 2]);
    e.insert(
        0,
        MadtCpu {
            apic_id: 2,
            enabled: false,
            online_capable: true,
        },
    );
    let (c, fates) = run(&e, 0, false, None, MAX_CPUS);
    assert_eq!(c.duplicates, 1);
    assert_eq!((c.listed, c.chosen), (3, 3), "{c:?}");
    assert_eq!(started(&fates), [1, 2]);
}
