//! restyle's pictures: what its style transfer methods (Gatys et al.'s optimisation in the
//! `restyle` crate, Ghiasi et al.'s feed-forward network in `restyle-fast`) share, and nothing
//! of either method.
//!
//! - [`Image`]: RGB, `f32` in 0..1, stored as a 3-channel [`restyle_engine::Tensor`];
//! - [`io`]: image files read and written, with limits against decompression bombs;
//! - [`color`]: keeping the photo's colours ([`ColorMode`]);
//! - [`mask`]: where in a picture something goes ([`Mask`]);
//! - [`StyleImage`]: a painting, its share in a blend of several, and its regions;
//! - [`tiles`]: overlapping tiles covering a picture, and their blending back into one;
//! - [`labelled_grid`]: pictures side by side with captions.
//!
//! ```
//! use restyle_image::tiles::{crop, Blender, Ramp, Tiling};
//! use restyle_image::{ColorMode, Image, Mask};
//!
//! let photo = Image::filled(300, 200, [0.2, 0.4, 0.6]);
//! let half = photo.resized_to_long_edge(150);
//! assert_eq!((half.width(), half.height()), (150, 100));
//!
//! // Cut into tiles of at most 128 px sharing 32, and put back together.
//! let tiling = Tiling { tile: 128, overlap: 32 };
//! let mut blender = Blender::new(3, 300, 200, tiling.overlap, Ramp::RaisedCosine);
//! for tile in tiling.plan(300, 200, 1) {
//!     blender.add(tile, &crop(photo.tensor(), tile));
//! }
//! let whole = Image::from_tensor(blender.finish(photo.tensor()));
//! assert!((whole.get(1, 150, 100) - 0.4).abs() < 1e-6);
//!
//! let left = Mask::new(2, 1, vec![1.0, 0.0]).resized(300, 200);
//! assert!((left.mean() - 0.5).abs() < 0.01);
//! assert_eq!("luminance".parse::<ColorMode>().unwrap(), ColorMode::Luminance);
//! ```

pub mod color;
mod grid;
mod image;
pub mod io;
pub mod mask;
mod style;
pub mod tiles;

pub use color::ColorMode;
pub use grid::{labelled_grid, GridRow};
pub use image::{fit_long_edge, Image};
pub use mask::Mask;
pub use style::StyleImage;
