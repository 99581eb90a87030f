//! A dense 3-D tensor of `f32` in channel-major (CHW) order, batch size 1.

use crate::shared_mut::SharedMut;
use rayon::prelude::*;

/// A `channels x height x width` block of `f32`, stored channel by channel,
/// each channel row by row (the layout PyTorch calls NCHW with N = 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    channels: usize,
    height: usize,
    width: usize,
    data: Vec<f32>,
}

impl Tensor {
    /// A tensor of zeros.
    pub fn zeros(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channels,
            height,
            width,
            data: vec![0.0; channels * height * width],
        }
    }

    /// A tensor whose every value `write` writes, through the pointer it is given to the
    /// first of them, with no zeros written first: for an output written whole, a pass over
    /// its memory saved (the zeros were a twentieth of the fast network's time).
    ///
    /// # Safety
    /// `write` must write all `channels * height * width` values through that pointer (no
    /// value may be read, and no reference made to it, before it is written).
    pub(crate) unsafe fn written_by(
        channels: usize,
        height: usize,
        width: usize,
        write: impl FnOnce(SharedMut<f32>),
    ) -> Self {
        let len = channels * height * width;
        let mut data: Vec<f32> = Vec::with_capacity(len);
        write(SharedMut::from_ptr(data.as_mut_ptr()));
        // SAFETY: the caller's promise: all `len` values, within the capacity, are written.
        unsafe { data.set_len(len) };
        Self {
            channels,
            height,
            width,
            data,
        }
    }

    /// Wraps `data`, which must hold exactly `channels * height * width` values.
    ///
    /// # Panics
    /// If the length does not match the shape.
    pub fn from_vec(channels: usize, height: usize, width: usize, data: Vec<f32>) -> Self {
        assert_eq!(
            data.len(),
            channels * height * width,
            "tensor data length does not match shape {channels}x{height}x{width}"
        );
        Self {
            channels,
            height,
            width,
            data,
        }
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// `(channels, height, width)`.
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.channels, self.height, self.width)
    }

    /// Pixels per channel.
    pub fn plane_len(&self) -> usize {
        self.height * self.width
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data
    }

    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// One channel's `height * width` values.
    pub fn plane(&self, channel: usize) -> &[f32] {
        let n = self.plane_len();
        &self.data[channel * n..(channel + 1) * n]
    }

    pub fn plane_mut(&mut self, channel: usize) -> &mut [f32] {
        let n = self.plane_len();
        &mut self.data[channel * n..(channel + 1) * n]
    }

    pub fn get(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.height + y) * self.width + x]
    }

    /// Adds `other` element-wise.
    ///
    /// # Panics
    /// If the shapes differ.
    pub fn add_assign(&mut self, other: &Tensor) {
        assert_eq!(
            self.shape(),
            other.shape(),
            "adding tensors of different shapes"
        );
        // Over threads: at the first layers this is tens of megabytes.
        self.data
            .par_chunks_mut(1 << 16)
            .zip(other.data.par_chunks(1 << 16))
            .for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(a, b)| *a += b));
    }

    /// Bytes held by the data.
    pub fn bytes(&self) -> usize {
        self.data.len() * std::mem::size_of::<f32>()
    }
}
