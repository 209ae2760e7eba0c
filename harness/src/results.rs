//! What people and CI read: the evidence kept of every run ([`evidence`]),
//! the live echo and closing lines ([`render`], coloured by [`paint`]), the
//! table of experiments ([`table`]), TAP ([`tap`]), plots ([`plot`], drawn
//! by [`figure`]), two runs side by side ([`compare`]), and the summary of
//! repeats ([`repeat`]).

pub mod compare;
pub mod evidence;
pub mod figure;
pub mod paint;
pub mod plot;
pub mod render;
pub mod repeat;
pub mod table;
pub mod tap;
