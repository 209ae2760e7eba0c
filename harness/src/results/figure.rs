//! Every plot in two formats: SVG for the browser, PNG for whatever shows
//! no SVG (a CI artifact list, a chat, an image viewer). One drawing, two
//! `plotters` backends: a plot is a [`Figure`], drawn once on the SVG
//! backend and once on the bitmap one, and [`write`] puts `NAME.svg` and
//! `NAME.png` side by side.
//!
//! Text is laid out, and drawn into the PNG, with DejaVu Sans, embedded in
//! the binary (`harness/assets/fonts/`, with its license) and registered
//! with `plotters`' `ab_glyph` backend: no fontconfig, no FreeType, no
//! system font needed to build or to run. The SVG names the family
//! `sans-serif` and leaves drawing the text to its viewer. The PNG's
//! glyphs are placed by [`Png`], not by `plotters`, whose `ab_glyph`
//! drawing drops each glyph's side bearing (letters collide).

use crate::results::evidence;
use ab_glyph::{Font as _, FontRef, ScaleFont as _};
use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};
use std::path::Path;
use std::sync::{Once, OnceLock};

/// The family every plot asks for.
pub const FONT: &str = "sans-serif";

static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font as [`FONT`], once per process; `plotters`
/// finds no other font, so every drawing calls this first.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a font file checked in beside its license; a parse
        // failure is a broken checkout, seen as "FontUnavailable" below.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS);
    });
}

/// The embedded font, parsed once.
fn dejavu() -> Option<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(DEJAVU_SANS).ok())
        .as_ref()
}

/// `plotters`' bitmap backend with its own text drawing: each glyph at its
/// advance, kerning and side bearing, anchored and rotated as asked, in
/// the embedded font (whatever family the style names: it is the only one).
struct Png<'a>(BitMapBackend<'a>);

impl<'a> DrawingBackend for Png<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }
    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.ensure_prepared()
    }
    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.present()
    }
    fn draw_pixel(
        &mut self,
        p: BackendCoord,
        c: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_pixel(p, c)
    }
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        ul: BackendCoord,
        br: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_rect(ul, br, style, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_path(path, style)
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.fill_polygon(vert, style)
    }
    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.blit_bitmap(pos, size, src)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        let Some(font) = dejavu() else {
            return Ok(());
        };
        if color.alpha == 0.0 {
            return Ok(());
        }
        // The line, left to right, its top at y = 0 (the same scale as
        // the layout `plotters` measured with).
        let f = font.as_scaled(style.size() as f32);
        let mut x = 0f32;
        let mut prev = None;
        let mut glyphs = Vec::new();
        for c in text.chars() {
            let id = f.glyph_id(c);
            if let Some(p) = prev {
                x += f.kern(p, id);
            }
            glyphs.push(id.with_scale_and_position(f.scale(), ab_glyph::point(x, f.ascent())));
            x += f.h_advance(id);
            prev = Some(id);
        }
        let h = f.ascent() - f.descent();
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -x / 2.0,
            HPos::Right => -x,
        }
        .round() as i32;
        let dy = match anchor.v_pos {
            VPos::Top => 0.0,
            VPos::Center => -h / 2.0,
            VPos::Bottom => -h,
        }
        .round() as i32;
        let turn = style.transform();
        for g in glyphs {
            let Some(o) = font.outline_glyph(g) else {
                continue;
            };
            let b = o.px_bounds();
            let mut ink = Vec::new();
            o.draw(|gx, gy, cov| ink.push((gx, gy, cov)));
            for (gx, gy, cov) in ink {
                let lx = b.min.x as i32 + gx as i32 + dx;
                let ly = b.min.y as i32 + gy as i32 + dy;
                let (tx, ty) = turn.transform(lx, ly);
                let c = BackendColor {
                    alpha: color.alpha * f64::from(cov.clamp(0.0, 1.0)),
                    rgb: color.rgb,
                };
                self.0.draw_pixel((pos.0 + tx, pos.1 + ty), c)?;
            }
        }
        Ok(())
    }
}

/// A plot, drawable on any `plotters` backend.
pub trait Figure {
    /// Width and height in pixels (the PNG's, and the SVG's user units).
    fn size(&self) -> (u32, u32);
    /// Draws the whole image on `root`, which is blank.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// The figure as an SVG document.
pub fn svg(f: &impl Figure) -> Result<String, String> {
    register_font();
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, f.size()).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        f.draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(s)
}

/// The figure as a PNG file (8-bit RGB).
pub fn png(f: &impl Figure) -> Result<Vec<u8>, String> {
    register_font();
    let (w, h) = f.size();
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = Png(BitMapBackend::with_buffer(&mut rgb, (w, h))).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        f.draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc.write_header().map_err(|e| e.to_string())?;
    wr.write_image_data(&rgb).map_err(|e| e.to_string())?;
    wr.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// `1500` as `1.5k`, `2000000` as `2M`: the y axis labels.
pub fn si(v: f64) -> String {
    let (d, unit) = match v {
        v if v >= 1e9 => (1e9, "G"),
        v if v >= 1e6 => (1e6, "M"),
        v if v >= 1e3 => (1e3, "k"),
        _ => (1.0, ""),
    };
    let x = v / d;
    if (x - x.round()).abs() < 1e-9 {
        format!("{x:.0}{unit}")
    } else {
        format!("{x:.1}{unit}")
    }
}

/// Writes `dir/NAME.svg` and `dir/NAME.png`. A figure that cannot be
/// drawn is reported on stdout and skipped (a plot never costs the rest
/// of the evidence); a file that cannot be written is an error.
pub fn write(dir: &Path, name: &str, f: &impl Figure) -> Result<()> {
    match svg(f) {
        Ok(s) => evidence::write(dir, &format!("{name}.svg"), &s)?,
        Err(e) => println!("{name}.svg not drawn: {e}"),
    }
    match png(f) {
        Ok(b) => {
            let p = dir.join(format!("{name}.png"));
            std::fs::write(&p, b).with_context(|| format!("writing {}", p.display()))?;
        }
        Err(e) => println!("{name}.png not drawn: {e}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Box3;
    impl Figure for Box3 {
        fn size(&self) -> (u32, u32) {
            (60, 40)
        }
        fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
            root.draw(&Rectangle::new([(10, 10), (20, 20)], RED.filled()))
                .map_err(|e| e.to_string())?;
            root.draw(&Text::new("x", (30, 10), (FONT, 12)))
                .map_err(|e| e.to_string())
        }
    }

    #[test]
    fn one_figure_gives_an_svg_and_a_png_of_its_size() {
        let s = svg(&Box3).unwrap();
        assert!(
            s.starts_with("<svg") && s.contains(r##"fill="#FF0000""##) && s.contains(">\nx\n<"),
            "the rectangle and the text:\n{s}"
        );
        let p = png(&Box3).unwrap();
        let dec = png::Decoder::new(std::io::Cursor::new(&p));
        let mut r = dec.read_info().unwrap();
        assert_eq!((r.info().width, r.info().height), (60, 40));
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        r.next_frame(&mut buf).unwrap();
        let px = |x: usize, y: usize| &buf[(y * 60 + x) * 3..(y * 60 + x) * 3 + 3];
        assert_eq!(px(15, 15), [255, 0, 0], "inside the rectangle");
        assert_eq!(px(5, 35), [255, 255, 255], "the white ground");
        let inked = (30..40)
            .flat_map(|x| (5..25).map(move |y| (x, y)))
            .filter(|&(x, y)| px(x, y) != [255, 255, 255])
            .count();
        assert!(
            inked > 5,
            "the letter is drawn with the embedded font: {inked} pixels"
        );
    }

    #[test]
    fn the_axis_counts_in_thousands_and_millions() {
        assert_eq!(
            [1.0, 100.0, 1e3, 1.5e3, 1e5, 2e6, 1e9].map(si),
            ["1", "100", "1k", "1.5k", "100k", "2M", "1G"]
        );
    }
}
