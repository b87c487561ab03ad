//! A thread's use of Intel AMX's tile registers, shared by the tile kernels (8-bit products in
//! [`super::panel16`], bfloat16 ones in [`super::bf16`]).

use std::arch::asm;

/// Tiles `0..count` configured as 16 rows of 64 bytes each (palette 1) for this thread,
/// released when dropped.
pub struct TileUse(());

impl TileUse {
    /// Configures the first `count` (at most 8) tiles.
    ///
    /// # Safety
    /// The CPU has AMX TILE and the process may use the tiles.
    pub unsafe fn configure(count: usize) -> Self {
        assert!(count <= 8, "eight tile registers");
        #[repr(C, align(64))]
        struct Config([u8; 64]);
        let mut c = Config([0; 64]);
        c.0[0] = 1;
        for t in 0..count {
            c.0[16 + 2 * t] = 64;
            c.0[48 + t] = 16;
        }
        // SAFETY: the caller promises the tiles; the configuration is 64 aligned bytes.
        unsafe { asm!("ldtilecfg [{}]", in(reg) c.0.as_ptr(), options(nostack, readonly)) };
        Self(())
    }
}

impl Drop for TileUse {
    fn drop(&mut self) {
        // SAFETY: made only by `configure`, on a CPU with the tiles.
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }
}
