//! Regions in a job: a second painting (`style_2` or `style_preset_2`) and
//! the masks painted on the form (`mask_1`, `mask_2`, `keep`), from the
//! submission to the worker's style list.
//!
//! | field | accepted |
//! | --- | --- |
//! | `style_2` or `style_preset_2` | a second painting, as `style` / `style_preset` |
//! | `mask_1`, `mask_2` | where painting 1 / 2 goes: PNG, JPEG or WebP, any size (white: here) |
//! | `keep` | the part left as the photo, the same way |
//!
//! The masks pass the same limits and cleaning as the other uploads, and
//! one that is all black (marks nothing) is a 422; `mask_2` needs a second
//! painting. A `gatys` job matches each painting's style in its region; a
//! `fast` one blends one fast picture per painting by the masks
//! ([`restyle_fast::paint_regions`]), then puts the kept part back.

use restyle::{io, Image, Mask, Settings, StyleImage};

use crate::error::ApiError;
use crate::jobs::{JobId, RegionsUsed};
use crate::limits::Limits;
use crate::storage::{ImageKind, Store};
use crate::styles;
use crate::upload::{self, Header};

/// The region fields of a form, as sent.
#[derive(Default)]
pub struct RegionForm {
    style_2: Option<Vec<u8>>,
    preset_2: Option<String>,
    mask_1: Option<Vec<u8>>,
    mask_2: Option<Vec<u8>>,
    keep: Option<Vec<u8>>,
}

/// Every field name [`RegionForm`] reads.
pub const REGION_FIELDS: &str = "style_2 (or style_preset_2), mask_1, mask_2, keep";

impl RegionForm {
    /// Where the file field `name` goes, if it is one of the regions'.
    pub fn file_slot(&mut self, name: &str) -> Option<&mut Option<Vec<u8>>> {
        match name {
            "style_2" => Some(&mut self.style_2),
            "mask_1" => Some(&mut self.mask_1),
            "mask_2" => Some(&mut self.mask_2),
            "keep" => Some(&mut self.keep),
            _ => None,
        }
    }

    /// Takes the text field `name` if it is one of the regions'.
    pub fn text(&mut self, name: &str, text: &str) -> bool {
        if name == "style_preset_2" {
            self.preset_2 = Some(text.to_owned());
            return true;
        }
        false
    }

    /// Which region fields were given, for the job's settings (a shipped
    /// style by its own name; an unknown one is refused later).
    pub fn used(&self) -> RegionsUsed {
        RegionsUsed {
            second_style: self.style_2.is_some() || self.preset_2.is_some(),
            style_preset_2: self
                .preset_2
                .as_deref()
                .and_then(styles::find)
                .map(|p| p.name.to_owned()),
            mask_1: self.mask_1.is_some(),
            mask_2: self.mask_2.is_some(),
            keep: self.keep.is_some(),
        }
    }

    /// The second painting's bytes and whether it is a shipped one; checks
    /// that the fields fit together.
    fn second_style(&mut self) -> Result<Option<(Vec<u8>, bool)>, ApiError> {
        let second = match (self.style_2.take(), self.preset_2.take()) {
            (Some(_), Some(_)) => {
                return Err(ApiError::BadRequest(
                    "give either a `style_2` file or a `style_preset_2`, not both".into(),
                ))
            }
            (Some(bytes), None) => Some((bytes, false)),
            (None, Some(name)) => Some((
                styles::find(&name)
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!("no shipped style `{name}` (style_preset_2)"))
                    })?
                    .jpeg
                    .to_vec(),
                true,
            )),
            (None, None) => None,
        };
        if second.is_none() && self.mask_2.is_some() {
            return Err(ApiError::BadRequest(
                "`mask_2` says where the second painting goes, but there is no `style_2` or `style_preset_2`".into(),
            ));
        }
        Ok(second)
    }
}

/// A region upload whose header passed, ready to be cleaned.
struct Upload {
    kind: ImageKind,
    bytes: Vec<u8>,
    header: Header,
    /// A shipped painting: kept as it is.
    shipped: bool,
}

/// Width and height.
pub type Size = (usize, usize);

/// The region uploads of a submission, headers checked.
pub struct RegionHeaders {
    uploads: Vec<Upload>,
}

impl RegionHeaders {
    /// Reads every region upload's header (refusing what the limits do not
    /// allow), before any decoding.
    pub fn read(mut form: RegionForm, limits: &Limits) -> Result<Self, ApiError> {
        let second = form.second_style()?;
        let mut uploads = Vec::new();
        if let Some((bytes, shipped)) = second {
            let header = upload::header(&bytes, "style_2", limits)?;
            uploads.push(Upload {
                kind: ImageKind::Style2,
                bytes,
                header,
                shipped,
            });
        }
        for (kind, bytes) in [
            (ImageKind::Mask1, form.mask_1),
            (ImageKind::Mask2, form.mask_2),
            (ImageKind::Keep, form.keep),
        ] {
            if let Some(bytes) = bytes {
                let header = upload::header(&bytes, kind.as_str(), limits)?;
                uploads.push(Upload {
                    kind,
                    bytes,
                    header,
                    shipped: false,
                });
            }
        }
        Ok(Self { uploads })
    }

    /// Each upload as decoded for its job (see [`upload::Header::shrunk`]): the second
    /// painting at `painting_edge`, the masks at `picture_edge`; a shipped one whole.
    pub fn shrunk(mut self, picture_edge: usize, painting_edge: usize) -> Self {
        for u in &mut self.uploads {
            if !u.shipped {
                let edge = match u.kind {
                    ImageKind::Style2 => painting_edge,
                    _ => picture_edge,
                };
                u.header = u.header.shrunk(edge);
            }
        }
        self
    }

    /// The second painting's size, and the masks' (the part kept's too),
    /// for the memory estimate.
    pub fn sizes(&self) -> (Option<Size>, Vec<Size>) {
        let mut second = None;
        let mut masks = Vec::new();
        for u in &self.uploads {
            let size = (u.header.width, u.header.height);
            match u.kind {
                ImageKind::Style2 => second = Some(size),
                _ => masks.push(size),
            }
        }
        (second, masks)
    }

    /// Decodes and re-encodes each upload; a mask that marks nothing is a 422.
    pub fn clean(self) -> Result<CheckedRegions, ApiError> {
        let mut images = Vec::new();
        for u in self.uploads {
            let role = u.kind.as_str();
            let bytes = if u.shipped {
                u.bytes
            } else {
                upload::clean(&u.bytes, u.header, role)?
            };
            if u.kind != ImageKind::Style2 {
                let image = io::decode_image(
                    &bytes,
                    std::path::Path::new(role),
                    io::ImageLimits::default(),
                )
                .map_err(|e| ApiError::Unprocessable(format!("the {role} image: {e}")))?;
                if Mask::from_image(&image).is_blank() {
                    return Err(ApiError::Unprocessable(format!(
                        "`{role}` is all black, so it marks no region (white marks the region)"
                    )));
                }
            }
            images.push((u.kind, bytes));
        }
        Ok(CheckedRegions { images })
    }
}

/// The region images of a job that passed every check.
#[derive(Default)]
pub struct CheckedRegions {
    images: Vec<(ImageKind, Vec<u8>)>,
}

impl CheckedRegions {
    /// The second painting, cleaned, if any.
    pub fn second_style(&self) -> Option<(&'static str, &[u8])> {
        self.images
            .iter()
            .find(|(k, _)| *k == ImageKind::Style2)
            .map(|(_, b)| ("style_2", &b[..]))
    }

    pub fn bytes(&self) -> usize {
        self.images.iter().map(|(_, b)| b.len()).sum()
    }

    /// Stores the images with the job's others.
    pub async fn store(self, store: &Store, id: &JobId) -> Result<(), ApiError> {
        for (kind, bytes) in self.images {
            store.put_image(id, kind, bytes).await?;
        }
        Ok(())
    }
}

/// The image kinds a job's regions may have.
pub const KINDS: [ImageKind; 4] = [
    ImageKind::Style2,
    ImageKind::Mask1,
    ImageKind::Mask2,
    ImageKind::Keep,
];

/// A job's region images, as stored (encoded).
#[derive(Default)]
pub struct StoredRegions {
    pub images: Vec<(ImageKind, Vec<u8>)>,
}

impl StoredRegions {
    /// Loads whichever region images the job has.
    pub async fn load(store: &Store, id: &JobId) -> Result<Self, String> {
        let mut images = Vec::new();
        for kind in KINDS {
            match store.get_image(id, kind).await {
                Ok(Some(bytes)) => images.push((kind, bytes)),
                Ok(None) => {}
                Err(e) => return Err(format!("cannot read the {} image: {e}", kind.as_str())),
            }
        }
        Ok(Self { images })
    }

    /// The job's style list (its painting, and the second one if any, each
    /// with its mask) and the part kept, into `settings`.
    pub fn styles(self, style: Image, settings: &mut Settings) -> Result<Vec<StyleImage>, String> {
        let mut styles = vec![StyleImage::new(style, 1.0)];
        let decode = |bytes: &[u8], kind: ImageKind| {
            io::decode_image(
                bytes,
                std::path::Path::new(kind.as_str()),
                io::ImageLimits::default(),
            )
            .map_err(|e| e.to_string())
        };
        let mut masks = Vec::new();
        for (kind, bytes) in &self.images {
            let image = decode(bytes, *kind)?;
            match kind {
                ImageKind::Style2 => styles.push(StyleImage::new(image, 1.0)),
                _ => masks.push((*kind, Mask::from_image(&image))),
            }
        }
        for (kind, mask) in masks {
            match kind {
                ImageKind::Mask1 => styles[0].mask = Some(mask),
                ImageKind::Mask2 => {
                    if let Some(s) = styles.get_mut(1) {
                        s.mask = Some(mask);
                    }
                }
                _ => settings.keep = Some(mask),
            }
        }
        Ok(styles)
    }
}
