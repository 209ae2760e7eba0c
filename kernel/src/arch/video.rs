//! The screens firmware leaves to the kernel: the VGA text buffer of a
//! BIOS-booted PC, and a linear RGB framebuffer that the loader set up.
//! Only the code that reads the loader's information makes their handles
//! (an `unsafe fn`: the loader's word vouches for the memory); every write
//! through them is bounds-checked.

/// The 80x25 VGA text screen at 0xb8000.
#[derive(Clone, Copy, Debug)]
pub struct VgaText(());

impl VgaText {
    /// Rows of the screen.
    pub const ROWS: usize = 25;
    /// Columns of the screen.
    pub const COLS: usize = 80;
    const BUFFER: u64 = 0xb8000;

    /// The VGA text screen.
    ///
    /// # Safety
    /// The machine must have the VGA text buffer at 0xb8000 (firmware
    /// booted it by BIOS and left it in text mode), used by nothing else.
    pub unsafe fn new() -> VgaText {
        VgaText(())
    }

    /// Writes character `ch` with attribute `attr` at (`row`, `col`);
    /// nothing off the screen.
    pub fn put(&self, row: usize, col: usize, attr: u8, ch: u8) {
        if row >= Self::ROWS || col >= Self::COLS {
            return;
        }
        let cell = Self::BUFFER + 2 * (row * Self::COLS + col) as u64;
        // SAFETY: `new`'s caller vouched for the text buffer, which the
        // kernel's tables identity-map writable; (row, col) is on the
        // screen, so the cell lies in its 4000 bytes.
        unsafe { (cell as *mut u16).write_volatile(u16::from(attr) << 8 | u16::from(ch)) };
    }
}

/// What the loader says of the linear RGB framebuffer it set up (the
/// multiboot2 framebuffer tag, type 1).
#[derive(Clone, Copy, Debug)]
pub struct FbInfo {
    /// Physical address of the first pixel.
    pub addr: u64,
    /// Bytes per row.
    pub pitch: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bits per pixel.
    pub bpp: u8,
    /// Bit positions of red, green and blue in a pixel.
    pub pos: (u8, u8, u8),
    /// Bit widths of red, green and blue.
    pub size: (u8, u8, u8),
}

/// A framebuffer the loader set up.
#[derive(Clone, Copy, Debug)]
pub struct Framebuffer(FbInfo);

impl Framebuffer {
    /// The framebuffer `info` describes.
    ///
    /// # Safety
    /// `info` must be the loader's own description of the framebuffer it
    /// set up: the `pitch * height` bytes from `addr` are its pixels, which
    /// no Rust object overlaps.
    pub unsafe fn from_loader(info: FbInfo) -> Framebuffer {
        Framebuffer(info)
    }

    /// Its description.
    pub fn info(&self) -> &FbInfo {
        &self.0
    }

    /// Whether the kernel can draw on it: it ends below 4 GiB (which the
    /// kernel's tables map, uncached from 3 GiB) and a pixel is 2, 3 or 4
    /// bytes.
    pub fn usable(&self) -> bool {
        let fb = &self.0;
        let end = fb.addr + u64::from(fb.pitch) * u64::from(fb.height);
        end <= 1 << 32 && matches!(fb.bpp, 16 | 24 | 32)
    }

    /// Writes one pixel of `value`, `bpp / 8` bytes little-endian; nothing
    /// off the screen, nothing on a framebuffer that is not [`usable`].
    ///
    /// [`usable`]: Framebuffer::usable
    pub fn pixel(&self, x: u32, y: u32, value: u32) {
        let fb = &self.0;
        if x >= fb.width || y >= fb.height || !self.usable() {
            return;
        }
        let bytes = u64::from(fb.bpp / 8);
        let at = fb.addr + u64::from(y) * u64::from(fb.pitch) + u64::from(x) * bytes;
        // SAFETY: the framebuffer is usable (below 4 GiB, 2 to 4 bytes a
        // pixel) and (x, y) is on it, so `at..at + bytes` lies inside the
        // loader's framebuffer (`from_loader`'s contract), which the
        // kernel's tables identity-map writable and which no Rust object
        // overlaps.
        unsafe {
            if bytes == 4 {
                (at as *mut u32).write_volatile(value);
            } else {
                for i in 0..bytes {
                    ((at + i) as *mut u8).write_volatile((value >> (8 * i)) as u8);
                }
            }
        }
    }
}
