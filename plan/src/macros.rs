//! `named_enum!`: a closed set of values with one spelling each.
//!
//! Every axis of an experiment (and the site class) is written in names,
//! on the kernel command line, in records and in the harness's tables. The
//! macro gives each such enum the same small surface, so that a spelling is
//! defined once: `ALL` (every value, in declaration order), `NAMES`, `name()`,
//! `parse()` (exact, case-sensitive) and `Display` (the name).

/// Defines a fieldless enum whose every variant has one canonical name.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $ty:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $name:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $ty {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// Every canonical name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The canonical name, as written in experiment names.
            pub const fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }

            /// The value whose canonical name is exactly `s`.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($name => Some($ty::$variant),)+
                    _ => None,
                }
            }
        }

        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}
