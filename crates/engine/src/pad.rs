//! Padding around an image: zeros, or the image mirrored at its edges.
//!
//! [`crate::conv2d::Conv2d`] pads as it reads (no padded copy is made); [`pad`] makes the padded
//! tensor explicitly, as the plain reference the tests check that against.

use crate::Tensor;

/// How a convolution's input is extended beyond its edges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Zeros, possibly a different amount on each side (TensorFlow's SAME padding of a
    /// stride-2 convolution on an even size pads only the bottom and the right).
    Zero {
        top: usize,
        left: usize,
        bottom: usize,
        right: usize,
    },
    /// The same amount on every side, mirrored without repeating the edge
    /// (`d c b | a b c d | c b a`: TensorFlow's and ONNX's `reflect`).
    Reflect(usize),
    /// The edge value repeated (`a a | a b c d | d d`), possibly a different amount on each
    /// side: what a reflection of an upsampled image is at the original size (see
    /// [`crate::conv2d::Conv2d::upsampling_input`]).
    Edge {
        top: usize,
        left: usize,
        bottom: usize,
        right: usize,
    },
}

impl Padding {
    /// No padding at all.
    pub const NONE: Padding = Padding::Zero {
        top: 0,
        left: 0,
        bottom: 0,
        right: 0,
    };

    /// Zeros, `amount` on every side.
    pub fn zeros(amount: usize) -> Padding {
        Padding::Zero {
            top: amount,
            left: amount,
            bottom: amount,
            right: amount,
        }
    }

    /// `(before, after)` along the rows (vertical) axis.
    pub fn rows(self) -> (usize, usize) {
        match self {
            Padding::Zero { top, bottom, .. } | Padding::Edge { top, bottom, .. } => (top, bottom),
            Padding::Reflect(p) => (p, p),
        }
    }

    /// `(before, after)` along the columns (horizontal) axis.
    pub fn columns(self) -> (usize, usize) {
        match self {
            Padding::Zero { left, right, .. } | Padding::Edge { left, right, .. } => (left, right),
            Padding::Reflect(p) => (p, p),
        }
    }

    /// Whether a line of `len` values can be padded this way (a reflection needs the
    /// padding to be shorter than the line).
    pub fn fits(self, len: usize) -> bool {
        match self {
            Padding::Zero { .. } | Padding::Edge { .. } => true,
            Padding::Reflect(p) => p < len,
        }
    }

    /// The index in a line of `len` values that padded position `t` reads (the line starts
    /// at padded position `before`), or `None` for a zero.
    pub fn source(self, t: usize, before: usize, len: usize) -> Option<usize> {
        let i = t as isize - before as isize;
        let n = len as isize;
        match self {
            Padding::Zero { .. } => (0..n).contains(&i).then_some(i as usize),
            Padding::Edge { .. } => (n > 0).then(|| i.clamp(0, n - 1) as usize),
            Padding::Reflect(_) => {
                let i = if i < 0 { -i } else { i };
                let i = if i >= n { 2 * (n - 1) - i } else { i };
                Some(i as usize)
            }
        }
    }
}

/// The padded tensor.
///
/// # Panics
/// If a reflection is as long as the image's side or longer.
pub fn pad(input: &Tensor, padding: Padding) -> Tensor {
    let (c, h, w) = input.shape();
    let (top, bottom) = padding.rows();
    let (left, right) = padding.columns();
    assert!(
        padding.fits(h) && padding.fits(w),
        "reflection longer than the image"
    );
    let (ph, pw) = (h + top + bottom, w + left + right);
    let mut out = Tensor::zeros(c, ph, pw);
    for ch in 0..c {
        for y in 0..ph {
            let Some(sy) = padding.source(y, top, h) else {
                continue;
            };
            for x in 0..pw {
                if let Some(sx) = padding.source(x, left, w) {
                    out.as_mut_slice()[(ch * ph + y) * pw + x] = input.get(ch, sy, sx);
                }
            }
        }
    }
    out
}
