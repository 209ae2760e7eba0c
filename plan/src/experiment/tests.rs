extern crate std;

use super::*;
use std::collections::HashSet;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

fn names(pattern: &str) -> Vec<String> {
    matching(pattern).map(|e| e.name().to_string()).collect()
}

fn every_axes() -> impl Iterator<Item = Axes> {
    Strategy::ALL.iter().flat_map(|&strategy| {
        let handlers: Vec<Option<Handler>> = core::iter::once(None)
            .chain(Handler::ALL.iter().map(|&h| Some(h)))
            .collect();
        handlers.into_iter().flat_map(move |handler| {
            SyncMode::ALL.iter().flat_map(move |&sync| {
                SiteClass::ALL.iter().flat_map(move |&class| {
                    Interference::ALL.iter().flat_map(move |&interference| {
                        Serializer::ALL.iter().flat_map(move |&serialize| {
                            Shape::ALL.iter().map(move |&shape| Axes {
                                strategy,
                                handler,
                                sync,
                                class,
                                interference,
                                serialize,
                                shape,
                            })
                        })
                    })
                })
            })
        })
    })
}

#[test]
fn names_are_formatted_as_documented() {
    let e = |n: &str| find(n).unwrap_or_else(|| panic!("{n} wanted in the suite, absent"));
    assert_eq!(
        e("int3/gap/ipi/cross-line/timer").class,
        SiteClass::CrossLine
    );
    let naive = e("naive/-/none/qword");
    assert_eq!(
        (naive.handler, naive.expectation),
        (None, Expectation::NegativeControl)
    );
    assert_eq!(e("int3/gap/ipi/qword/cpuid").serialize, Serializer::Cpuid);
    let a = Axes {
        strategy: Strategy::OutoflineInt3,
        handler: Some(Handler::Trampoline),
        sync: SyncMode::Cpumask,
        class: SiteClass::CrossPage,
        interference: Interference::NmiSite,
        serialize: Serializer::Serialize,
        shape: Shape::Call,
    };
    assert_eq!(
        &*a.name(),
        "outofline-int3/trampoline/cpumask/cross-page/nmi-site/serialize"
    );
    assert_eq!(format!("{a}"), a.name().as_str());
    let null = Axes {
        strategy: Strategy::Int3Batch,
        shape: Shape::Null,
        interference: Interference::None,
        serialize: Serializer::Iret,
        class: SiteClass::Qword,
        sync: SyncMode::Ipi,
        handler: Some(Handler::Gap),
    };
    assert_eq!(&*null.name(), "int3-batch/gap/ipi/qword/null");
    assert_eq!(parse_name("int3-batch/gap/ipi/qword/null"), Ok(null));
}

#[test]
fn every_combination_of_axes_has_a_name_that_fits_and_parses_back_if_valid() {
    let mut longest = 0;
    let mut valid = 0;
    for axes in every_axes() {
        let name = axes.name();
        assert_eq!(
            name.as_str(),
            format!("{axes}"),
            "the buffer lost part of a name"
        );
        match axes.validate() {
            Ok(()) => {
                valid += 1;
                longest = longest.max(name.len());
                assert_eq!(parse_name(&name), Ok(axes), "{name} should parse back");
            }
            Err(e) => assert_eq!(parse_name(&name), Err(e), "{name} should be refused as {e}"),
        }
    }
    assert_eq!(
        longest, 67,
        "the longest valid name (NAME_CAPACITY is {NAME_CAPACITY})"
    );
    // Calls: 4 int3 strategies x 6 handlers + 3 others x '-'; NULL, both
    // jump labels and ret0: each the 3 in-line int3 strategies x the 5
    // handlers but spin-bounded; times the rest.
    assert_eq!(
        valid,
        (4 * 6 + 3 + 4 * 3 * 5) * 3 * 4 * 6 * 4 + 4 * 4,
        "and `early`: one sync, one interference, 4 classes, 4 serializers"
    );
}

#[test]
fn a_shape_is_written_last_only_when_not_call_and_only_where_it_fits() {
    let refused = |n: &str| parse_name(n).expect_err(n).to_string();
    assert!(refused("int3/gap/ipi/qword/call").contains("default"));
    assert!(refused("int3/gap/ipi/qword/null/timer").contains("neither"));
    assert!(refused("atomic/-/ipi/qword/null").contains("can decode as anything"));
    assert!(refused("outofline-int3/gap/ipi/qword/null").contains("not by `outofline-int3`"));
    assert!(refused("int3/spin-bounded/ipi/qword/null").contains("spin-bounded"));
    assert!(refused("int3/gap/ipi/qword/timer/cpuid/null/x").contains("4 to 7 parts"));
    assert_eq!(
        parse_name("int3/gap/ipi/qword/timer/cpuid/null").map(|a| (a.shape, a.serialize)),
        Ok((Shape::Null, Serializer::Cpuid))
    );
}

#[test]
fn the_default_suite_covers_every_value_of_every_axis() {
    let s = DEFAULT_SUITE;
    for v in Strategy::ALL {
        assert!(
            s.iter().any(|e| e.strategy == *v),
            "strategy {v} wanted in the suite, absent"
        );
    }
    for v in Handler::ALL {
        assert!(
            s.iter().any(|e| e.handler == Some(*v)),
            "handler {v} absent"
        );
    }
    assert!(s.iter().any(|e| e.handler.is_none()), "handler - absent");
    for v in SyncMode::ALL {
        assert!(s.iter().any(|e| e.sync == *v), "sync {v} absent");
    }
    for v in Serializer::ALL {
        assert!(s.iter().any(|e| e.serialize == *v), "serialize {v} absent");
    }
    for v in Interference::ALL {
        assert!(
            s.iter().any(|e| e.interference == *v),
            "interference {v} absent"
        );
    }
    for v in SiteClass::ALL {
        assert!(s.iter().any(|e| e.class == *v), "class {v} absent");
    }
    for v in Shape::ALL {
        assert!(s.iter().any(|e| e.shape == *v), "shape {v} absent");
    }
    for v in Expectation::ALL {
        assert!(
            s.iter().any(|e| e.expectation == *v),
            "expectation {v} absent"
        );
    }
}

#[test]
fn the_default_suite_has_the_documented_rows() {
    assert_eq!(DEFAULT_SUITE.len(), 200);
    assert_eq!(matching("early/*").count(), 4);
    assert_eq!(matching("int3/spin-bounded/*").count(), 2);
    assert_eq!(matching("int3-queue/*").count(), 10);
    assert_eq!(matching("*/null").count(), 15);
    assert!(matching("*/null").all(|e| e.expectation == Expectation::MustPass && !e.own_boot));
    // Both jump labels and ret0: the `null` rows again.
    for shape in ["jump", "jump8", "ret0"] {
        let rows: Vec<String> = matching(&format!("*/{shape}"))
            .map(|e| e.name().to_string())
            .collect();
        let null: Vec<String> = matching("*/null")
            .map(|e| e.name().to_string().replace("/null", &format!("/{shape}")))
            .collect();
        assert_eq!(rows, null);
    }
    let count = |p: &str| matching(p).count();
    assert_eq!(count("int3*/*/ipi/qword/timer-site"), 6);
    assert_eq!(count("int3-queue/gap/ipi/*/timer"), 4);
    assert_eq!(count("naive/*"), 4);
    assert_eq!(
        count("int3/gap/ipi/*/timer") + count("int3/gap/ipi/*/nmi"),
        8
    );
    let must_pass_grid = DEFAULT_SUITE
        .iter()
        .filter(|e| {
            matches!(e.strategy, Strategy::Int3 | Strategy::Int3Batch)
                && matches!(
                    e.handler,
                    Some(Handler::Gap | Handler::Trampoline | Handler::R10r11)
                )
                && matches!(e.sync, SyncMode::Ipi | SyncMode::Cpumask)
                && matches!(e.interference, Interference::Timer | Interference::Nmi)
                && e.serialize == Serializer::Iret
                && e.shape == Shape::Call
        })
        .count();
    assert_eq!(must_pass_grid, 96);
    for n in [
        "int3/retry/ipi/qword/timer",
        "int3/spin/cpumask/qword",
        "int3/gap/ipi/qword/self",
        "int3/trampoline/ipi/qword/self",
        "int3/r10r11/ipi/qword/self",
        "outofline-int3/gap/ipi/qword/timer",
        "int3/gap/ipi/qword/cpuid",
        "int3/gap/ipi/qword/mov-cr2",
        "int3/gap/ipi/qword/serialize",
    ] {
        let e = find(n).unwrap_or_else(|| panic!("{n} wanted, absent"));
        assert_eq!(
            (e.expectation, e.own_boot),
            (Expectation::MustPass, false),
            "{n}"
        );
    }
    for n in ["int3/spin/ipi/qword/self", "int3/retry/ipi/qword/self"] {
        let e = find(n).unwrap();
        assert_eq!(
            (e.expectation, e.own_boot),
            (Expectation::ExpectDeadlock, true),
            "{n}"
        );
    }
    assert_eq!(count("int3/*/ipi/qword/nmi-site"), 6);
    for e in matching("int3/*/ipi/qword/nmi-site") {
        // Linux's gap and Nadav's registers claim NMI safety; the others
        // are findings.
        let claims = matches!(e.handler, Some(Handler::Gap | Handler::R10r11));
        assert_eq!(
            e.expectation,
            if claims {
                Expectation::MustPass
            } else {
                Expectation::Observe
            },
            "{e}"
        );
        // `retry` waits in the NMI for a patch that waits for it; `spin`
        // and `spin-bounded` do their CPU's sync duty while they wait.
        let own = matches!(e.handler, Some(Handler::Retry));
        assert_eq!(e.own_boot, own, "{e}: only retry hangs the boot");
    }
    for n in [
        "atomic/-/ipi/qword",
        "atomic/-/ipi/line",
        "atomic/-/ipi/cross-line",
        "atomic/-/ipi/cross-page",
        "outofline-atomic/-/ipi/qword",
        "int3/gap/none/cross-line",
    ] {
        assert_eq!(
            find(n).map(|e| e.expectation),
            Some(Expectation::Observe),
            "{n}"
        );
    }
    let own_boot: Vec<String> = DEFAULT_SUITE
        .iter()
        .filter(|e| e.own_boot)
        .map(|e| e.name().to_string())
        .collect();
    assert_eq!(own_boot.len(), 3, "own-boot rows: {own_boot:?}");
}

#[test]
fn suite_names_are_unique_valid_and_round_trip() {
    let mut seen = HashSet::new();
    for e in DEFAULT_SUITE {
        let name = e.name();
        assert!(seen.insert(name.to_string()), "{name} appears twice");
        assert_eq!(
            parse_name(&name),
            Ok(e.axes()),
            "{name} should parse back to its axes"
        );
        assert_eq!(find(&name), Some(e));
        assert_eq!(
            e.needs_bp(),
            e.handler.is_some(),
            "{name}: handler iff int3"
        );
        assert_eq!(format!("{e}"), name.as_str());
    }
}

#[test]
fn the_negative_controls_are_exactly_the_naive_rows() {
    let controls: Vec<String> = DEFAULT_SUITE
        .iter()
        .filter(|e| e.expectation == Expectation::NegativeControl)
        .map(|e| e.name().to_string())
        .collect();
    assert_eq!(controls, names("naive/*"));
    assert_eq!(
        names("naive/*"),
        [
            "naive/-/none/qword",
            "naive/-/none/line",
            "naive/-/none/cross-line",
            "naive/-/none/cross-page"
        ]
    );
}

#[test]
fn glob_patterns_select_from_the_suite() {
    let ipi = names("int3/*/ipi/*");
    assert!(ipi.contains(&"int3/gap/ipi/qword/timer".into()));
    assert!(ipi.contains(&"int3/gap/ipi/qword/cpuid".into()));
    assert!(
        ipi.iter()
            .all(|n| n.starts_with("int3/") && n.contains("/ipi/")),
        "{ipi:?}"
    );
    // The grid, spin and spin-bounded, and three rows of each other shape.
    assert_eq!(names("*/cpumask/*").len(), 2 * 3 * 4 * 2 + 2 + 4 * 3);
    assert_eq!(
        names("*"),
        DEFAULT_SUITE
            .iter()
            .map(|e| e.name().to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        names("int3/gap/ipi/qword/timer"),
        ["int3/gap/ipi/qword/timer"]
    );
    assert!(names("nothing*").is_empty());
    assert_eq!(matching_in(&DEFAULT_SUITE[..4], "*").count(), 4);
}

#[test]
fn a_comma_list_selects_in_suite_order_and_each_experiment_once() {
    let got = names("int3/spin/ipi/qword/self,naive/*/qword,naive/*,int3/spin/ipi/qword/self");
    assert_eq!(
        got,
        [
            "naive/-/none/qword",
            "naive/-/none/line",
            "naive/-/none/cross-line",
            "naive/-/none/cross-page",
            "int3/spin/ipi/qword/self",
        ],
        "wanted the union of the globs, in registry order, without duplicates"
    );
    assert_eq!(names("naive/*,nothing*").len(), 4);
}

#[test]
fn find_refuses_unknown_and_non_canonical_names() {
    assert_eq!(find("int3/gap/ipi/qword/timer/iret"), None);
    assert_eq!(find("int3/gap/ipi/qword/none"), None);
    assert_eq!(
        find("int3/spin/ipi/line"),
        None,
        "valid but not in the suite"
    );
    assert_eq!(find_in(&[], "naive/-/none/qword"), None);
}

#[test]
fn parse_errors_name_the_bad_part() {
    let err = |n: &str| parse_name(n).unwrap_err().to_string();
    let e = err("int4/gap/ipi/qword");
    assert!(
        e.starts_with("unknown strategy `int4`; one of `int3`, `int3-batch`"),
        "{e}"
    );
    let e = err("int3/gapp/ipi/qword");
    assert!(
        e.contains("unknown handler `gapp`") && e.contains("`-` (no breakpoint)"),
        "{e}"
    );
    assert!(
        err("int3/gap/ipx/qword").contains("unknown sync `ipx`; one of `ipi`, `cpumask`, `none`")
    );
    assert!(err("int3/gap/ipi/dword").contains("unknown class `dword`"));
    let e = err("int3/gap/ipi/qword/tiemr");
    assert!(
        e.contains("`tiemr` is neither an interference") && e.contains("`mov-cr2`"),
        "{e}"
    );
    assert!(
        err("int3/gap/ipi/qword/timer/cpuidd").contains("unknown serializing instruction `cpuidd`")
    );
    assert!(err("int3/gap/ipi/qword/cpuid/timer").contains("`timer` must come before"));
    assert!(err("int3/gap/ipi/qword/cpuid/x").contains("nothing may follow"));
    assert!(err("int3/gap/ipi/qword/none").contains("interference `none` is the default"));
    assert!(
        err("int3/gap/ipi/qword/iret").contains("serializing instruction `iret` is the default")
    );
    assert!(err("int3/gap/ipi/qword/timer/iret").contains("`iret` is the default"));
    assert!(err("int3/-/ipi/qword").contains("`int3` writes int3 and needs a handler"));
    assert!(err("atomic/gap/ipi/qword")
        .contains("`atomic` writes no int3: its handler is written `-`, not `gap`"));
    let e = err("early/-/ipi/qword/self");
    assert!(
        e.contains("its sync is `none`, not `ipi`") && !e.contains("interference"),
        "{e}"
    );
    let e = err("early/-/none/qword/timer");
    assert!(
        e.contains("its interference is `self`, not `timer`") && !e.contains("sync"),
        "{e}"
    );
    assert!(err("early/-/none/qword").contains("not `none`"));
    let e = err("int3/gap/ipi/qword/jump9");
    assert!(
        e.contains("a shape (`call`, `null`, `jump`, `jump8`, `ret0`)"),
        "{e}"
    );
    assert!(parse_name("early/-/none/cross-page/self").is_ok());
    assert_eq!(
        parse_name("int3/gap/ipi"),
        Err(NameError::Parts { found: 3 })
    );
    assert_eq!(
        parse_name("a/b/c/d/e/f/g"),
        Err(NameError::Parts { found: 7 })
    );
    assert_eq!(parse_name(""), Err(NameError::Parts { found: 1 }));
}

#[test]
fn a_long_bad_part_is_quoted_shortened_at_a_character_boundary() {
    let long = "\u{e9}".repeat(40);
    let e = parse_name(&format!("{long}/gap/ipi/qword")).unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("unknown strategy `{}...`", "\u{e9}".repeat(16))),
        "{shown}"
    );
}

#[test]
fn every_axis_value_parses_from_its_name_and_nothing_else() {
    for s in Strategy::ALL {
        assert_eq!(Strategy::parse(s.name()), Some(*s));
    }
    for v in Serializer::ALL {
        assert_eq!(Serializer::parse(v.name()), Some(*v));
    }
    assert_eq!(SiteClass::parse("Qword"), None, "names are case-sensitive");
    assert_eq!(Interference::parse("self"), Some(Interference::SelfSite));
    assert_eq!(
        Handler::NAMES,
        &[
            "gap",
            "trampoline",
            "r10r11",
            "retry",
            "spin",
            "spin-bounded"
        ]
    );
}

#[test]
fn an_experiment_plans_its_class_in_line_or_out_of_line_as_its_strategy_says() {
    let e = find("outofline-int3/gap/ipi/qword/timer").unwrap();
    let p = e.plan(2, 4, 2).unwrap();
    assert!(p.outofline() && p.class() == SiteClass::Qword);
    let e = find("atomic/-/ipi/cross-page").unwrap();
    let p = e.plan(1, 1, 2).unwrap();
    assert!(!p.outofline() && p.class() == SiteClass::CrossPage);
    assert!(e.plan(0, 1, 2).is_err());
}

#[test]
fn an_experiment_plans_its_shape_with_its_proof() {
    let p = find("int3/gap/ipi/line/timer/jump")
        .unwrap()
        .plan(2, 20, 3)
        .unwrap();
    assert!(p.labels() && !p.ret0() && p.targets_per_key() == 1);
    assert_eq!(p.jump_labels().count(), 40);
    let p = find("int3-batch/gap/ipi/qword/timer/ret0")
        .unwrap()
        .plan(1, 2, 3)
        .unwrap();
    assert!(p.ret0() && !p.labels() && p.targets_per_key() == 3);
    let p = find("int3/gap/ipi/qword/timer/null")
        .unwrap()
        .plan(1, 2, 2)
        .unwrap();
    assert!(!p.ret0() && !p.labels() && p.insn_bytes(0, p.sites(0)[0], 2) == crate::encode::NOP5);
}

#[test]
fn each_shape_allows_the_returns_of_its_own_instructions_only() {
    let r = |s: Shape| {
        let r = s.return_rules();
        (r.nop, r.labels, r.ret0)
    };
    assert_eq!(r(Shape::Call), (false, false, false));
    assert_eq!(r(Shape::Null), (true, false, false));
    assert_eq!(r(Shape::Jump), (true, true, false));
    assert_eq!(r(Shape::Jump8), (true, true, false));
    assert_eq!(r(Shape::Ret0), (false, false, true));
    // The kernel stores a shape as its index in `ALL`.
    for (n, &s) in Shape::ALL.iter().enumerate() {
        assert_eq!(s as usize, n);
    }
}
