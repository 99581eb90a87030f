//! A fast picture (the feed-forward network's, [`restyle_fast`]): how it is painted, the
//! same wherever that is (in the server's process or in a painting process,
//! [`crate::painter`]), and what it costs, which decides where it is painted
//! ([`crate::instant`]) and how long it may take.

use restyle::io::{self, ImageLimits, OutputType};
use restyle::{ColorMode, Settings};
use restyle_fast::FastStyle;
use restyle_request::Method;

use crate::jobs::JobSettings;
use crate::regions::StoredRegions;

/// What painting a pixel costs against decoding one (a pass of the network over it).
pub const PAINTED_PIXEL_WEIGHT: u64 = 48;

/// The work of a fast picture whose uploads decode to `decoded` pixels and whose
/// paintings paint `painted` pixels in all, in decoded pixels.
pub fn work(decoded: u64, painted: u64) -> u64 {
    decoded.saturating_add(painted.saturating_mul(PAINTED_PIXEL_WEIGHT))
}

/// The fast picture (PNG) of a job's photo and painting at its size, with its `regions`
/// (a second painting, masks; see [`restyle_fast::paint_regions`]), painted here and now.
/// A fast job keeps the colours it asked for; the picture a Gatys job starts from is
/// painted as the CLI's `--init fast` paints it, in the painting's colours, without regions.
pub fn paint_now(
    model: &FastStyle,
    content: &[u8],
    style: &[u8],
    regions: StoredRegions,
    settings: &JobSettings,
) -> Result<Vec<u8>, String> {
    let size = settings.size;
    let color = match settings.method {
        Method::Gatys => ColorMode::None,
        Method::Fast => settings.preserve_colors,
    };
    let decode = |bytes: &[u8], role: &str| {
        io::decode_image(bytes, std::path::Path::new(role), ImageLimits::default())
            .map_err(|e| e.to_string())
    };
    let photo = decode(content, "the content image")?;
    let image = decode(style, "the style image")?;
    let mut with_keep = Settings::default();
    let styles = regions.styles(image, &mut with_keep)?;
    for (i, style) in styles.iter().enumerate() {
        restyle_request::check_painting(i + 1, &style.image).map_err(|e| e.to_string())?;
    }
    let painted = restyle_fast::paint_regions(&photo, &styles, with_keep.keep.as_ref(), |styles| {
        restyle_fast::paint(model, &photo, size, styles, 1.0, color, None)
    })
    .map_err(|e| e.to_string())?;
    io::encode_image(&painted.image, OutputType::Png).map_err(|e| e.to_string())
}
