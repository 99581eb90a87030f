//! The paintings shipped with restyle (public domain), embedded in the
//! binary and offered on the page next to uploading one's own. The files are
//! copies, inside this crate so that it packages on its own, of
//! `examples/images/style/` (credits: `assets/styles/CREDITS.md`).

use std::sync::OnceLock;

use restyle::io::{self, ImageLimits, OutputType};

/// A shipped style.
pub struct Preset {
    /// The form value and the file name.
    pub name: &'static str,
    pub title: &'static str,
    pub artist: &'static str,
    pub jpeg: &'static [u8],
}

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "starry_night",
        title: "The Starry Night",
        artist: "Vincent van Gogh, 1889",
        jpeg: include_bytes!("../assets/styles/starry_night.jpg"),
    },
    Preset {
        name: "the_scream",
        title: "The Scream",
        artist: "Edvard Munch, 1893",
        jpeg: include_bytes!("../assets/styles/the_scream.jpg"),
    },
    Preset {
        name: "woman-with-hat-matisse",
        title: "Woman with a Hat",
        artist: "Henri Matisse, 1905",
        jpeg: include_bytes!("../assets/styles/woman-with-hat-matisse.jpg"),
    },
];

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// Long edge of the thumbnails the page shows.
const THUMB: usize = 240;

impl Preset {
    /// A small JPEG of the painting, made once.
    pub fn thumbnail(&self) -> &'static [u8] {
        static THUMBS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
        let thumbs = THUMBS.get_or_init(|| {
            PRESETS
                .iter()
                .map(|p| {
                    io::decode_image(p.jpeg, std::path::Path::new(p.name), ImageLimits::default())
                        .ok()
                        .and_then(|img| {
                            io::encode_image(&img.resized_to_long_edge(THUMB), OutputType::Jpeg)
                                .ok()
                        })
                        .unwrap_or_else(|| p.jpeg.to_vec())
                })
                .collect()
        });
        let index = PRESETS
            .iter()
            .position(|p| p.name == self.name)
            .expect("a shipped preset");
        &thumbs[index]
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_preset_decodes_and_has_a_small_thumbnail() {
        for p in super::PRESETS {
            let thumb = p.thumbnail();
            assert!(
                thumb.len() < p.jpeg.len() && thumb.len() < 60_000,
                "{}: {} bytes",
                p.name,
                thumb.len()
            );
            assert!(super::find(p.name).is_some());
        }
    }
}
