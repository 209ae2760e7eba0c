//! A kernel's symbols (`/proc/kallsyms` or a `System.map`, one format):
//! its text symbols, to name an address
//! (`dequeue_entity+0x5c`) and to find the `int3` entry. The addresses
//! hold for a kernel booted with `nokaslr`.

use anyhow::{bail, Result};

/// The text symbols of a kernel, sorted by address.
#[derive(Debug, Clone, Default)]
pub struct SymbolMap {
    syms: Vec<(u64, String)>,
    /// `_etext`, if the map has it: no address at or past it is in a text
    /// symbol.
    etext: Option<u64>,
}

impl SymbolMap {
    /// Reads `ADDRESS TYPE NAME` lines, keeping text symbols (`t`, `T`,
    /// `w`, `W`). A map with no text symbol is refused (Debian's kernel
    /// package ships a one-line placeholder; the real map is in its debug
    /// package).
    pub fn parse(text: &str) -> Result<SymbolMap> {
        let mut syms = Vec::new();
        let mut etext = None;
        for line in text.lines() {
            let mut f = line.split_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let Ok(addr) = u64::from_str_radix(addr, 16) else {
                continue;
            };
            if name == "_etext" {
                etext = Some(addr);
            }
            if matches!(kind, "t" | "T" | "w" | "W") {
                syms.push((addr, name.to_string()));
            }
        }
        if syms.is_empty() {
            bail!("no text symbols (a placeholder System.map?)");
        }
        // Stable: of several symbols at one address, the first listed wins.
        syms.sort_by_key(|&(a, _)| a);
        Ok(SymbolMap { syms, etext })
    }

    /// The address of the text symbol `name`.
    pub fn address(&self, name: &str) -> Option<u64> {
        self.syms.iter().find(|(_, n)| n == name).map(|&(a, _)| a)
    }

    /// The symbol `addr` is in and the offset into it.
    pub fn locate(&self, addr: u64) -> Option<(&str, u64)> {
        if self.etext.is_some_and(|e| addr >= e) {
            return None;
        }
        let i = self.syms.partition_point(|&(a, _)| a <= addr);
        if i == 0 {
            return None;
        }
        // The first of the symbols at that address.
        let at = self.syms[i - 1].0;
        let first = self.syms.partition_point(|&(a, _)| a < at);
        let (a, name) = &self.syms[first];
        Some((name.as_str(), addr - a))
    }

    /// `name+0xoff` or, outside every symbol, the address in hex.
    pub fn describe(&self, addr: u64) -> String {
        match self.locate(addr) {
            Some((name, 0)) => name.to_string(),
            Some((name, off)) => format!("{name}+{off:#x}"),
            None => format!("{addr:#x}"),
        }
    }

    /// Whether `addr` lies between the symbols `start` and `end` of the map
    /// (both present).
    pub fn between(&self, addr: u64, start: &str, end: &str) -> bool {
        match (self.address(start), self.address(end)) {
            (Some(s), Some(e)) => (s..e).contains(&addr),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = "\
ffffffff81000000 T _stext
ffffffff810ee620 t dequeue_entity
ffffffff810eeb00 t enqueue_entity
ffffffff81c00ba0 T asm_exc_int3
ffffffff81c00ba0 t alias_after
ffffffff81e00000 T _etext
ffffffff82000000 D some_data
";

    #[test]
    fn an_address_is_named_by_the_symbol_before_it_and_the_offset() {
        let m = SymbolMap::parse(MAP).unwrap();
        assert_eq!(m.describe(0xffff_ffff_810e_e67c), "dequeue_entity+0x5c");
        assert_eq!(m.describe(0xffff_ffff_810e_eb00), "enqueue_entity");
        assert_eq!(m.address("asm_exc_int3"), Some(0xffff_ffff_81c0_0ba0));
    }

    #[test]
    fn of_two_symbols_at_one_address_the_first_listed_names_it() {
        let m = SymbolMap::parse(MAP).unwrap();
        assert_eq!(m.describe(0xffff_ffff_81c0_0ba4), "asm_exc_int3+0x4");
    }

    #[test]
    fn addresses_outside_the_text_have_no_symbol() {
        let m = SymbolMap::parse(MAP).unwrap();
        assert_eq!(m.locate(0xffff_ffff_8200_0010), None);
        assert_eq!(m.describe(0x1000), "0x1000");
        assert_eq!(m.address("some_data"), None);
    }

    #[test]
    fn debians_placeholder_map_is_refused() {
        let placeholder = "ffffffffffffffff B The real System.map is in the \
                           linux-image-<version>-dbg package\n";
        assert!(SymbolMap::parse(placeholder).is_err());
    }
}
