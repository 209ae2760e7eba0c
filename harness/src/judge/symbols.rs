//! The kernel ELF's symbol table: names to addresses (for negative
//! controls, whose fault RIP must equal a symbol) and addresses to
//! `name+offset` (for every fault the kernel reports).

use anyhow::{Context as _, Result};
use object::{Object, ObjectSymbol, SymbolKind};
use std::{collections::HashMap, path::Path};

/// One symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// Demangled name.
    pub name: String,
    /// Address.
    pub addr: u64,
    /// Size in bytes (0 when the ELF does not say).
    pub size: u64,
}

/// A symbol table.
#[derive(Debug, Clone, Default)]
pub struct Symbols {
    /// Sorted by address.
    by_addr: Vec<Symbol>,
    by_name: HashMap<String, u64>,
}

impl Symbols {
    /// Reads the symbols of an ELF file.
    pub fn from_elf(path: &Path) -> Result<Symbols> {
        let data =
            std::fs::read(path).with_context(|| format!("reading ELF {}", path.display()))?;
        let file = object::File::parse(&*data)
            .with_context(|| format!("parsing ELF {}", path.display()))?;
        let syms = file
            .symbols()
            // Functions, objects, and the untyped labels that `global_asm!`
            // defines (ELF `NOTYPE`), such as the controls' symbols.
            .filter(|s| {
                s.section_index().is_some()
                    && matches!(
                        s.kind(),
                        SymbolKind::Text
                            | SymbolKind::Data
                            | SymbolKind::Unknown
                            | SymbolKind::Label
                    )
            })
            .filter_map(|s| {
                let name = s
                    .name()
                    .ok()
                    .filter(|n| !n.is_empty() && !n.starts_with(".L"))?;
                Some(Symbol {
                    // `{:#}`: without the hash suffix (`kernel::bp::handle`).
                    name: format!("{:#}", rustc_demangle::demangle(name)),
                    addr: s.address(),
                    size: s.size(),
                })
            });
        Ok(Symbols::from_list(syms))
    }

    /// Builds a table from a list (tests use this).
    pub fn from_list(list: impl IntoIterator<Item = Symbol>) -> Symbols {
        let mut by_addr: Vec<Symbol> = list.into_iter().collect();
        by_addr.sort_by(|a, b| a.addr.cmp(&b.addr).then(a.name.cmp(&b.name)));
        let mut by_name = HashMap::new();
        for s in &by_addr {
            by_name.entry(s.name.clone()).or_insert(s.addr);
        }
        Symbols { by_addr, by_name }
    }

    /// The address of `name`.
    pub fn addr(&self, name: &str) -> Option<u64> {
        self.by_name.get(name).copied()
    }

    /// `name` or `name+0x12` for an address inside (or, for symbols without
    /// a size, after) a symbol; `None` when no symbol is at or below it.
    pub fn describe(&self, addr: u64) -> Option<String> {
        let i = self.by_addr.partition_point(|s| s.addr <= addr);
        let s = self.by_addr[..i]
            .iter()
            .rev()
            .find(|s| s.size == 0 || addr < s.addr + s.size)?;
        if s.size != 0 && addr >= s.addr + s.size {
            return None;
        }
        let off = addr - s.addr;
        // A sizeless symbol only names addresses close after it.
        if s.size == 0 && off > 0x1000 {
            return None;
        }
        Some(if off == 0 {
            s.name.clone()
        } else {
            format!("{}+{off:#x}", s.name)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Symbols {
        Symbols::from_list([
            Symbol {
                name: "control_ud2".into(),
                addr: 0x1000,
                size: 4,
            },
            Symbol {
                name: "kmain".into(),
                addr: 0x2000,
                size: 0x100,
            },
        ])
    }

    #[test]
    fn an_address_inside_a_symbol_is_named_with_its_offset() {
        assert_eq!(table().describe(0x1000).as_deref(), Some("control_ud2"));
        assert_eq!(table().describe(0x2010).as_deref(), Some("kmain+0x10"));
    }

    #[test]
    fn an_address_between_symbols_has_no_name() {
        assert_eq!(table().describe(0x1004), None);
        assert_eq!(table().describe(0x10), None);
    }

    #[test]
    fn the_harness_binary_itself_has_a_main_symbol() {
        // Any ELF will do to exercise the reader; this test binary is one.
        let me = std::env::current_exe().unwrap();
        let s = Symbols::from_elf(&me).expect("reading our own ELF");
        assert!(s.addr("main").is_some(), "wanted a `main` symbol in {me:?}");
    }
}
