//! A labelled grid of images, for showing reconstructions side by side.

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use restyle_engine::Tensor;

use crate::image::Image;

/// DejaVu Sans reduced to ASCII (assets/LICENSE-DejaVu.txt).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans-subset.ttf");

const PADDING: usize = 12;
const CAPTION_PX: f32 = 15.0;
const TITLE_PX: f32 = 18.0;
const TEXT: [f32; 3] = [0.12, 0.12, 0.14];

/// One row: a title and captioned images, all of the same size.
pub struct GridRow {
    pub title: String,
    pub cells: Vec<(String, Image)>,
}

/// Draws the rows one under another on white, each with its title above
/// and a caption under each image.
///
/// # Panics
/// If there are no rows or cells, or the cells differ in size.
pub fn labelled_grid(rows: &[GridRow]) -> Image {
    let font = FontRef::try_from_slice(FONT).expect("the bundled font parses");
    let first = &rows[0].cells[0].1;
    let (cw, ch) = (first.width(), first.height());
    let columns = rows.iter().map(|r| r.cells.len()).max().unwrap_or(0);
    let title_h = TITLE_PX.ceil() as usize + 8;
    let caption_h = CAPTION_PX.ceil() as usize + 8;
    let row_h = title_h + ch + caption_h + PADDING;
    let width = PADDING + columns * (cw + PADDING);
    let height = PADDING + rows.len() * row_h;
    let mut canvas = Image::filled(width, height, [1.0, 1.0, 1.0]).into_tensor();
    for (r, row) in rows.iter().enumerate() {
        let top = PADDING + r * row_h;
        draw_text(
            &mut canvas,
            &font,
            &row.title,
            TITLE_PX,
            PADDING,
            top + TITLE_PX as usize,
        );
        for (c, (caption, image)) in row.cells.iter().enumerate() {
            assert_eq!(
                (image.width(), image.height()),
                (cw, ch),
                "grid cells differ in size"
            );
            let left = PADDING + c * (cw + PADDING);
            paste(&mut canvas, image, left, top + title_h);
            let text_w = text_width(&font, caption, CAPTION_PX);
            let x = left + cw.saturating_sub(text_w) / 2;
            draw_text(
                &mut canvas,
                &font,
                caption,
                CAPTION_PX,
                x,
                top + title_h + ch + CAPTION_PX as usize + 2,
            );
        }
    }
    Image::from_tensor(canvas)
}

fn paste(canvas: &mut Tensor, image: &Image, left: usize, top: usize) {
    let w = canvas.width();
    for c in 0..3 {
        let src = image.tensor().plane(c);
        let dst = canvas.plane_mut(c);
        for y in 0..image.height() {
            let row = &src[y * image.width()..(y + 1) * image.width()];
            dst[(top + y) * w + left..][..image.width()]
                .iter_mut()
                .zip(row)
                .for_each(|(d, s)| *d = s.clamp(0.0, 1.0));
        }
    }
}

fn text_width(font: &FontRef<'_>, text: &str, px: f32) -> usize {
    let scaled = font.as_scaled(PxScale::from(px));
    text.chars()
        .map(|ch| scaled.h_advance(font.glyph_id(ch)))
        .sum::<f32>()
        .ceil() as usize
}

/// Draws `text` with its baseline at `baseline`, starting at `x`.
fn draw_text(
    canvas: &mut Tensor,
    font: &FontRef<'_>,
    text: &str,
    px: f32,
    x: usize,
    baseline: usize,
) {
    let scale = PxScale::from(px);
    let scaled = font.as_scaled(scale);
    let (w, h) = (canvas.width() as i64, canvas.height() as i64);
    let mut caret = x as f32;
    for ch in text.chars() {
        let id = font.glyph_id(ch);
        let glyph = id.with_scale_and_position(scale, point(caret, baseline as f32));
        caret += scaled.h_advance(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let (px, py) = (
                bounds.min.x as i64 + gx as i64,
                bounds.min.y as i64 + gy as i64,
            );
            if px < 0 || py < 0 || px >= w || py >= h {
                return;
            }
            let i = (py * w + px) as usize;
            for (c, ink) in TEXT.iter().enumerate() {
                let v = &mut canvas.plane_mut(c)[i];
                *v = *v * (1.0 - coverage) + ink * coverage;
            }
        });
    }
}
